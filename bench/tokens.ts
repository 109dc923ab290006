// Buyers with real JWTs, minted once per run into files (one `Bearer <jwt>` line per buyer), signed
// with the secret the benchmark's Stampede servers are started with. Every contestant is sent the
// same files.

import { signBuyerToken } from "../src/auth/buyer-token.ts";
import { SECRETS } from "../test/support/harness.ts";

/** Longer than any run, short enough to be an ordinary token. */
const TOKEN_TTL_SECONDS = 86_400;
const LINES_PER_WRITE = 10_000;

export async function mintBuyers(file: string, prefix: string, count: number): Promise<void> {
  const writer = Bun.file(file).writer();
  let lines: string[] = [];
  for (let i = 0; i < count; i += 1) {
    lines.push(`Bearer ${signBuyerToken(SECRETS.STAMPEDE_JWT_SECRET, `${prefix}-${i}`, TOKEN_TTL_SECONDS)}`);
    if (lines.length === LINES_PER_WRITE) {
      writer.write(`${lines.join("\n")}\n`);
      lines = [];
    }
  }
  if (lines.length > 0) writer.write(`${lines.join("\n")}\n`);
  await writer.end();
}
