// The sender's settings. API.md fixes the production values (a 10 s answer, retries for 24 h); the
// variables exist so that tests and benchmarks can shorten them, and are checked like every other
// setting (a bad value is a ConfigError, exit 2).

import { ConfigError } from "../config.ts";

export type SenderOptions = {
  /** An attempt with no answer within this long failed (API.md: 10 s). */
  timeoutMs: number;
  /** Requests in flight to one endpoint at most. */
  concurrency: number;
  /** How often an idle endpoint is asked for due deliveries. */
  pollMs: number;
  /** Retry delays are fully jittered: uniform in [0, min(retryMaxMs, retryMinMs * 2^(attempt-1))). */
  retryMinMs: number;
  retryMaxMs: number;
  /** After this long from its first due time, a delivery that still fails is `failed` (API.md: 24 h). */
  retryWindowMs: number;
  /** Delivered deliveries are kept this long, then pruned. */
  retentionMs: number;
};

export const SENDER_DEFAULTS: SenderOptions = {
  timeoutMs: 10_000,
  concurrency: 8,
  pollMs: 50,
  retryMinMs: 1_000,
  retryMaxMs: 3_600_000,
  retryWindowMs: 86_400_000,
  retentionMs: 7 * 86_400_000,
};

const VARIABLES: { key: keyof SenderOptions; env: string; min: number; max: number }[] = [
  { key: "timeoutMs", env: "STAMPEDE_WEBHOOK_TIMEOUT_MS", min: 10, max: 600_000 },
  { key: "concurrency", env: "STAMPEDE_WEBHOOK_CONCURRENCY", min: 1, max: 256 },
  { key: "pollMs", env: "STAMPEDE_WEBHOOK_POLL_MS", min: 5, max: 60_000 },
  { key: "retryMinMs", env: "STAMPEDE_WEBHOOK_RETRY_MIN_MS", min: 1, max: 86_400_000 },
  { key: "retryMaxMs", env: "STAMPEDE_WEBHOOK_RETRY_MAX_MS", min: 1, max: 86_400_000 },
  { key: "retryWindowMs", env: "STAMPEDE_WEBHOOK_RETRY_WINDOW_MS", min: 0, max: 30 * 86_400_000 },
  { key: "retentionMs", env: "STAMPEDE_WEBHOOK_RETENTION_MS", min: 60_000, max: 366 * 86_400_000 },
];

export function senderOptionsFromEnv(env: Record<string, string | undefined>): SenderOptions {
  const options = { ...SENDER_DEFAULTS };
  for (const { key, env: name, min, max } of VARIABLES) {
    const raw = env[name];
    if (raw === undefined || raw === "") continue;
    const value = Number(raw);
    if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(value) || value < min || value > max) {
      throw new ConfigError(`${name} must be an integer from ${min} to ${max}, not "${raw}"`);
    }
    options[key] = value;
  }
  if (options.retryMinMs > options.retryMaxMs) throw new ConfigError("STAMPEDE_WEBHOOK_RETRY_MIN_MS must not exceed STAMPEDE_WEBHOOK_RETRY_MAX_MS");
  return options;
}

/** The delay before attempt `attempt + 1` after `attempt` failed ones: exponential, capped, fully jittered. */
export function retryDelayMs(options: SenderOptions, attempt: number, random = Math.random): number {
  const ceiling = Math.min(options.retryMaxMs, options.retryMinMs * 2 ** Math.min(Math.max(attempt - 1, 0), 40));
  return Math.floor(random() * ceiling);
}
