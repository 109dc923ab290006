// The command line as an operator meets it (`bun run src/main.ts ...`, the same program as the
// executable): help where help is asked for, `token` that never makes up a secret the server does
// not have, a corrupt secrets file named in one line, and generated secrets that reach a terminal
// but never a log.

import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createBuyerVerifier } from "../../src/auth/buyer-token.ts";
import { tempDir } from "../support/harness.ts";
import { freePort, waitReady } from "../support/process.ts";

const ROOT = new URL("../..", import.meta.url).pathname;
const root = tempDir("stampede-cli-");
afterAll(() => rmSync(root, { recursive: true, force: true }));

let dirs = 0;
const freshDir = () => join(root, `d${dirs++}`);

/** Only what the program needs: nothing STAMPEDE_* leaks in from the environment running the tests. */
function env(extra: Record<string, string> = {}): Record<string, string> {
  return { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: root, ...extra };
}

function cli(args: string[], extra: Record<string, string> = {}) {
  const result = Bun.spawnSync([process.execPath, "run", "src/main.ts", ...args], { cwd: ROOT, env: env(extra), stdout: "pipe", stderr: "pipe" });
  return { code: result.exitCode, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}

const oneLine = (text: string) => text.trimEnd().split("\n").length === 1;
const JWT_SECRET = "cli-test-jwt-secret-0123456789abcdef";

describe("help", () => {
  test("--help, and --help after any command, print the help and exit 0", () => {
    for (const args of [["--help"], ["serve", "--help"], ["migrate", "-h"], ["token", "--help"]]) {
      const result = cli(args);
      expect({ args, code: result.code }).toEqual({ args, code: 0 });
      expect(result.stdout).toContain("stampede serve [flags]");
      expect(result.stdout).toContain("--port");
    }
  });

  test("no command prints the help to stderr and exits 2 (bad usage)", () => {
    const result = cli([]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
    expect(result.stderr).toContain("stampede serve [flags]");
  });
});

describe("stampede token", () => {
  test("refuses a data dir without secrets, and creates nothing", () => {
    const dir = freshDir();
    const missing = cli(["token", "--user", "alice", "--data-dir", dir]);
    expect(missing.code).toBe(2);
    expect(oneLine(missing.stderr)).toBe(true);
    expect(missing.stderr).toContain(`no secrets in ${dir}`);
    expect(missing.stdout).toBe("");
    expect(existsSync(dir)).toBe(false);

    mkdirSync(dir);
    const empty = cli(["token", "--user", "alice"], { STAMPEDE_DATA_DIR: dir });
    expect(empty.code).toBe(2);
    expect(readdirSync(dir)).toEqual([]);
  });

  test("signs with the data dir's secret, or STAMPEDE_JWT_SECRET, without writing", () => {
    const dir = freshDir();
    mkdirSync(dir);
    writeFileSync(join(dir, "secrets.json"), JSON.stringify({ STAMPEDE_JWT_SECRET: JWT_SECRET }));
    const fromFile = cli(["token", "--user", "alice", "--data-dir", dir]);
    expect(fromFile.code).toBe(0);
    expect(createBuyerVerifier({ secret: JWT_SECRET })(`Bearer ${fromFile.stdout.trim()}`)).toBe("alice");
    expect(readdirSync(dir)).toEqual(["secrets.json"]);

    const other = freshDir();
    const fromEnv = cli(["token", "--user", "bob", "--ttl", "5m"], { STAMPEDE_DATA_DIR: other, STAMPEDE_JWT_SECRET: JWT_SECRET });
    expect(fromEnv.code).toBe(0);
    expect(createBuyerVerifier({ secret: JWT_SECRET })(`Bearer ${fromEnv.stdout.trim()}`)).toBe("bob");
    expect(existsSync(other)).toBe(false);

    const weak = cli(["token", "--user", "bob"], { STAMPEDE_DATA_DIR: other, STAMPEDE_JWT_SECRET: "short" });
    expect(weak.code).toBe(2);
    expect(weak.stderr).toContain("STAMPEDE_JWT_SECRET is shorter than 16");
  });
});

describe("a corrupt secrets file", () => {
  test("token and serve exit 2 with one line naming the file", () => {
    const dir = freshDir();
    mkdirSync(dir);
    const file = join(dir, "secrets.json");
    writeFileSync(file, '{"STAMPEDE_ADMIN_TOKEN": "trunc');
    const token = cli(["token", "--user", "alice", "--data-dir", dir]);
    expect(token.code).toBe(2);
    expect(oneLine(token.stderr)).toBe(true);
    expect(token.stderr).toContain(file);

    const serve = cli(["serve", "--data-dir", dir, "--port", String(freePort()), "--host", "127.0.0.1", "--workers", "1"]);
    expect(serve.code).toBe(2);
    expect(oneLine(serve.stderr)).toBe(true);
    expect(serve.stderr).toContain(file);
    expect(serve.stderr).not.toContain("trunc");
  });
});

describe("secrets generated on first start", () => {
  async function firstStart(viaTerminal: boolean): Promise<{ output: string; secrets: Record<string, string> }> {
    const dir = freshDir();
    const port = freePort();
    const command = [process.execPath, "run", "src/main.ts", "serve", "--data-dir", dir, "--port", String(port), "--host", "127.0.0.1", "--workers", "1"];
    // script(1) runs the server on a pseudo-terminal, as an operator's shell would.
    const argv = viaTerminal ? ["script", "-qefc", command.map((a) => `'${a}'`).join(" "), "/dev/null"] : command;
    const proc = Bun.spawn(argv, { cwd: ROOT, env: env(), stdin: "pipe", stdout: "pipe", stderr: "pipe" });
    let output = "";
    const collect = async (stream: ReadableStream<Uint8Array>) => {
      for await (const chunk of stream) output += new TextDecoder().decode(chunk);
    };
    const collected = Promise.all([collect(proc.stdout), collect(proc.stderr)]);
    try {
      await waitReady(`http://127.0.0.1:${port}`, 20_000, proc);
    } finally {
      proc.kill("SIGTERM");
      await proc.exited;
      await collected;
    }
    return { output, secrets: JSON.parse(readFileSync(join(dir, "secrets.json"), "utf8")) as Record<string, string> };
  }

  test("without a terminal, the log names the file and holds no value", async () => {
    const { output, secrets } = await firstStart(false);
    expect(Object.keys(secrets).sort()).toEqual(["STAMPEDE_ADMIN_TOKEN", "STAMPEDE_JWT_SECRET", "STAMPEDE_WEBHOOK_SECRET"]);
    for (const value of Object.values(secrets)) expect(output).not.toContain(value);
    expect(output).toContain('"msg":"generated secrets"');
    expect(output).toContain("secrets.json");
  }, 30_000);

  test("on a terminal, they are shown once", async () => {
    const { output, secrets } = await firstStart(true);
    for (const [name, value] of Object.entries(secrets)) expect(output).toContain(`${name}=${value}`);
  }, 30_000);
});
