// A real webhook receiver on loopback for the delivery tests: it records every POST (its event id,
// body and signature) and answers as the test tells it to: 2xx, refuse (500), answer late, or never.

export type Answer = { status: number } | { delayMs: number; status: number } | "hang";

export type Received = { id: string; type: string; body: string; signature: string | null; at: number; attempt: number };

export type Receiver = {
  url: string;
  received: Received[];
  /** How to answer the `attempt`-th POST (1-based) of event `id`; 200 by default. */
  answer: (id: string, attempt: number) => Answer;
  /** Resolves once `predicate` holds of what was received, or rejects after `timeoutMs`. */
  until(predicate: (received: Received[]) => boolean, timeoutMs?: number): Promise<void>;
  stop(): void;
};

export function startReceiver(): Receiver {
  const attempts = new Map<string, number>();
  const hanging: (() => void)[] = [];
  const receiver: Receiver = {
    url: "",
    received: [],
    answer: () => ({ status: 200 }),
    async until(predicate, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (!predicate(receiver.received)) {
        if (Date.now() > deadline) throw new Error(`receiver: condition not met in ${timeoutMs} ms (${receiver.received.length} received)`);
        await Bun.sleep(20);
      }
    },
    stop() {
      for (const release of hanging) release();
      server.stop(true);
    },
  };
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    // Longer than any test waits: a "hang" must stay silent until the sender gives up on it.
    idleTimeout: 60,
    async fetch(request) {
      const body = await request.text();
      const parsed = JSON.parse(body) as { id: string; type: string };
      const attempt = (attempts.get(parsed.id) ?? 0) + 1;
      attempts.set(parsed.id, attempt);
      receiver.received.push({ id: parsed.id, type: parsed.type, body, signature: request.headers.get("stampede-signature"), at: Date.now(), attempt });
      const answer = receiver.answer(parsed.id, attempt);
      if (answer === "hang") {
        await new Promise<void>((resolve) => hanging.push(resolve));
        return new Response("too late", { status: 200 });
      }
      if ("delayMs" in answer) await Bun.sleep(answer.delayMs);
      return new Response(answer.status >= 300 ? "receiver refuses" : "ok", { status: answer.status });
    },
  });
  receiver.url = `http://127.0.0.1:${server.port}/hooks/stampede`;
  return receiver;
}
