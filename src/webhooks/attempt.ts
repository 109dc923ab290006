// One delivery attempt: a signed POST of the stored body, bounded in time (the whole exchange,
// answer included) and in what is read of the answer. A 2xx delivers; anything else is a failed
// attempt with what the operator needs to see why (status, and the start of the answer or the error).

import { signWebhook } from "../auth/webhook-signature.ts";

/** What is read of an answer at most: enough to keep the connection reusable for small answers. */
const ANSWER_BYTES_MAX = 64 * 1024;
/** What is kept of an answer or an error for the delivery's last_error. */
const ERROR_CHARS_MAX = 300;

export type AttemptResult = { delivered: boolean; status: number | null; error: string | null };

export async function attemptDelivery(
  target: { url: string; secret: string },
  payload: string,
  timeoutMs: number,
  userAgent: string,
): Promise<AttemptResult> {
  const signature = signWebhook(target.secret, payload, Math.floor(Date.now() / 1000));
  let status: number | null = null;
  try {
    const response = await fetch(target.url, {
      method: "POST",
      body: payload,
      headers: { "content-type": "application/json", "stampede-signature": signature, "user-agent": userAgent },
      signal: AbortSignal.timeout(timeoutMs),
      // A redirect is not a 2xx: it is retried, never followed to wherever it points.
      redirect: "manual",
    });
    status = response.status;
    const answer = await readAnswer(response);
    if (status >= 200 && status < 300) return { delivered: true, status, error: null };
    return { delivered: false, status, error: clip(`HTTP ${status}${answer.length > 0 ? `: ${answer}` : ""}`) };
  } catch (error) {
    const name = (error as { name?: string })?.name;
    const reason = name === "TimeoutError" || name === "AbortError" ? `no answer within ${timeoutMs} ms` : String((error as Error)?.message ?? error);
    return { delivered: false, status, error: clip(reason) };
  }
}

/** The start of the answer's body as text; the rest is dropped unread past ANSWER_BYTES_MAX. */
async function readAnswer(response: Response): Promise<string> {
  const body = response.body;
  if (body === null) return "";
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (chunks.length === 0 || total <= ERROR_CHARS_MAX * 4) chunks.push(value);
      if (total > ANSWER_BYTES_MAX) {
        void reader.cancel().catch(() => {});
        break;
      }
    }
  } finally {
    reader.releaseLock();
  }
  return new TextDecoder().decode(Buffer.concat(chunks)).slice(0, ERROR_CHARS_MAX).trim();
}

function clip(text: string): string {
  return text.length > ERROR_CHARS_MAX ? `${text.slice(0, ERROR_CHARS_MAX)}…` : text;
}
