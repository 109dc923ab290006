// The server's shared secrets: admin token, buyer JWT key, webhook secret.
//
// Each comes from the environment when set. Otherwise it is generated on first start and kept in
// `<dataDir>/secrets.json` (mode 0600), so a restart does not log every operator out or break the
// payment provider's signatures. Only generated values are written to disk; a secret supplied by
// the environment stays in the environment. Call `loadSecrets` once, in the supervisor, and hand
// the result to workers: concurrent first starts are handled, but one reader is simpler.
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  closeSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { basename, join } from "node:path";
import { publicKeyAlgorithms } from "./buyer-token.ts";

export type Secrets = {
  adminToken: string;
  jwtSecret?: string;
  jwtPublicKey?: string;
  webhookSecret: string;
};

/** Names as the operator knows them, returned in `generated` so the caller can print them once. */
type GeneratedName = "STAMPEDE_ADMIN_TOKEN" | "STAMPEDE_JWT_SECRET" | "STAMPEDE_WEBHOOK_SECRET";
type StoredSecrets = Partial<Record<GeneratedName, string>>;

const secrets_file_name = "secrets.json";
const generated_secret_bytes = 32;
/** Below this an env-supplied token or HMAC key is guessable enough to be worth refusing. */
const secret_length_min = 16;
/** A lost race with another process creating the file is retried by re-reading it. */
const create_attempts_max = 3;

function generateSecret(): string {
  return randomBytes(generated_secret_bytes).toString("base64url");
}

function envValue(env: Record<string, string | undefined>, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === "" ? undefined : value;
}

/** Container environments often carry a PEM on one line with literal `\n`; restore the breaks. */
function normalizePem(pem: string): string {
  return pem.includes("\n") ? pem : pem.replace(/\\n/g, "\n");
}

function readStored(path: string): StoredSecrets | null {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw error;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Say which file, never what is in it.
    throw new Error(`${path} is not valid JSON; fix or remove it`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new Error(`${path} must hold a JSON object`);
  }
  const stored: StoredSecrets = {};
  for (const [name, value] of Object.entries(parsed)) {
    if (name !== "STAMPEDE_ADMIN_TOKEN" && name !== "STAMPEDE_JWT_SECRET" && name !== "STAMPEDE_WEBHOOK_SECRET") {
      continue;
    }
    if (typeof value !== "string" || value === "") throw new Error(`${path}: ${name} must be a non-empty string`);
    stored[name] = value;
  }
  return stored;
}

/** Writes to a private temp file, flushes it, then links (first write) or renames it into place. */
function writeStored(dataDir: string, path: string, stored: Record<string, string>, exclusive: boolean): boolean {
  const tempPath = join(dataDir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);
  const fd = openSync(tempPath, "wx", 0o600);
  try {
    writeSync(fd, `${JSON.stringify(stored, null, 2)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    if (exclusive) {
      // link() fails when the target exists, so of two processes starting at once only one wins.
      linkSync(tempPath, path);
    } else {
      renameSync(tempPath, path);
    }
    fsyncDirectory(dataDir);
    return true;
  } catch (error) {
    if (exclusive && (error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  } finally {
    try {
      unlinkSync(tempPath);
    } catch {
      // Already renamed away.
    }
  }
}

/** Makes the new directory entry survive power loss, not just the file's contents. */
function fsyncDirectory(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export function loadSecrets(
  dataDir: string,
  env: Record<string, string | undefined>,
): { secrets: Secrets; generated: string[] } {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const path = join(dataDir, secrets_file_name);
  const fromEnv = {
    adminToken: envValue(env, "STAMPEDE_ADMIN_TOKEN"),
    jwtSecret: envValue(env, "STAMPEDE_JWT_SECRET"),
    jwtPublicKey: envValue(env, "STAMPEDE_JWT_PUBLIC_KEY"),
    webhookSecret: envValue(env, "STAMPEDE_WEBHOOK_SECRET"),
  };
  const needed: GeneratedName[] = [];
  if (!fromEnv.adminToken) needed.push("STAMPEDE_ADMIN_TOKEN");
  if (!fromEnv.jwtSecret && !fromEnv.jwtPublicKey) needed.push("STAMPEDE_JWT_SECRET");
  if (!fromEnv.webhookSecret) needed.push("STAMPEDE_WEBHOOK_SECRET");

  for (let attempt = 1; ; attempt++) {
    const existing = readStored(path);
    if (existing !== null && (statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600);
    // Values generated on an earlier start are kept even when the environment now overrides
    // them, so removing the override later brings back the same secret.
    const stored: StoredSecrets = { ...existing };
    const generated: GeneratedName[] = [];
    for (const name of needed) {
      if (stored[name] === undefined) {
        stored[name] = generateSecret();
        generated.push(name);
      }
    }
    if (generated.length > 0 && !writeStored(dataDir, path, stored, existing === null)) {
      if (attempt >= create_attempts_max) throw new Error(`could not create ${path}`);
      continue; // Another process created it first: use its values instead of ours.
    }
    const jwtPublicKey = fromEnv.jwtPublicKey ? normalizePem(fromEnv.jwtPublicKey) : undefined;
    const jwtSecret = fromEnv.jwtSecret ?? (jwtPublicKey ? undefined : stored.STAMPEDE_JWT_SECRET);
    const secrets: Secrets = {
      adminToken: fromEnv.adminToken ?? stored.STAMPEDE_ADMIN_TOKEN ?? "",
      webhookSecret: fromEnv.webhookSecret ?? stored.STAMPEDE_WEBHOOK_SECRET ?? "",
      ...(jwtSecret ? { jwtSecret } : {}),
      ...(jwtPublicKey ? { jwtPublicKey } : {}),
    };
    return { secrets, generated };
  }
}

/** Human-readable reasons the secrets are unsafe to serve with; empty when they are fine. */
export function secretProblems(secrets: Secrets): string[] {
  const problems: string[] = [];
  const tooShort = (name: string, value: string | undefined): void => {
    if (value !== undefined && value.length < secret_length_min) {
      problems.push(`${name} is shorter than ${secret_length_min} characters`);
    }
  };
  tooShort("STAMPEDE_ADMIN_TOKEN", secrets.adminToken);
  tooShort("STAMPEDE_JWT_SECRET", secrets.jwtSecret);
  tooShort("STAMPEDE_WEBHOOK_SECRET", secrets.webhookSecret);
  if (secrets.jwtSecret && secrets.jwtPublicKey) {
    problems.push("set STAMPEDE_JWT_SECRET or STAMPEDE_JWT_PUBLIC_KEY, not both");
  } else if (!secrets.jwtSecret && !secrets.jwtPublicKey) {
    problems.push("neither STAMPEDE_JWT_SECRET nor STAMPEDE_JWT_PUBLIC_KEY is set");
  }
  if (secrets.jwtPublicKey) {
    try {
      publicKeyAlgorithms(secrets.jwtPublicKey);
    } catch (error) {
      problems.push(`STAMPEDE_JWT_PUBLIC_KEY: ${(error as Error).message}`);
    }
  }
  return problems;
}

/**
 * The secrets as they stand, creating and changing nothing: each from the environment, else from
 * `<dataDir>/secrets.json` when it exists. For tools that must use the server's own secrets
 * (`stampede token`): a secret generated there would be one the server never heard of. Throws,
 * naming the file, when the file is there but unreadable or malformed.
 */
export function existingSecrets(
  dataDir: string,
  env: Record<string, string | undefined>,
): { secrets: Partial<Secrets>; path: string; fileFound: boolean } {
  const path = join(dataDir, secrets_file_name);
  const stored = readStored(path);
  const jwtPublicKey = envValue(env, "STAMPEDE_JWT_PUBLIC_KEY");
  const secrets: Partial<Secrets> = {};
  const adminToken = envValue(env, "STAMPEDE_ADMIN_TOKEN") ?? stored?.STAMPEDE_ADMIN_TOKEN;
  const webhookSecret = envValue(env, "STAMPEDE_WEBHOOK_SECRET") ?? stored?.STAMPEDE_WEBHOOK_SECRET;
  // As in loadSecrets: a public key from the environment replaces the stored HS256 secret.
  const jwtSecret = envValue(env, "STAMPEDE_JWT_SECRET") ?? (jwtPublicKey ? undefined : stored?.STAMPEDE_JWT_SECRET);
  if (adminToken !== undefined) secrets.adminToken = adminToken;
  if (webhookSecret !== undefined) secrets.webhookSecret = webhookSecret;
  if (jwtSecret !== undefined) secrets.jwtSecret = jwtSecret;
  if (jwtPublicKey !== undefined) secrets.jwtPublicKey = normalizePem(jwtPublicKey);
  return { secrets, path, fileFound: stored !== null };
}

const admission_file_name = "admission-secret.json";
const admission_env_name = "STAMPEDE_ADMISSION_SECRET";

/**
 * The key that signs waiting-room admissions (admission-token.ts): STAMPEDE_ADMISSION_SECRET, or one
 * generated on first start and kept in `<dataDir>/admission-secret.json` (mode 0600), written as
 * secrets.json is, so that every worker and every restart signs and checks with the same key. It is
 * the server's alone (no operator or client ever needs it), so it is neither shown nor logged, and it
 * has its own file rather than joining the operator's secrets.json.
 */
export function loadAdmissionSecret(dataDir: string, env: Record<string, string | undefined>): string {
  const fromEnv = envValue(env, admission_env_name);
  if (fromEnv !== undefined) {
    if (fromEnv.length < secret_length_min) throw new Error(`${admission_env_name} is shorter than ${secret_length_min} characters`);
    return fromEnv;
  }
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const path = join(dataDir, admission_file_name);
  for (let attempt = 1; ; attempt++) {
    let text: string | null = null;
    try {
      text = readFileSync(path, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
    if (text !== null) {
      if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600);
      let value: unknown;
      try {
        value = (JSON.parse(text) as Record<string, unknown>)[admission_env_name];
      } catch {
        throw new Error(`${path} is not valid JSON; fix or remove it`);
      }
      if (typeof value !== "string" || value.length < secret_length_min) throw new Error(`${path}: ${admission_env_name} must be a string of at least ${secret_length_min} characters`);
      return value;
    }
    const value = generateSecret();
    if (writeStored(dataDir, path, { [admission_env_name]: value }, true)) return value;
    if (attempt >= create_attempts_max) throw new Error(`could not create ${path}`);
  }
}
