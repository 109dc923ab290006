// The shipped artifact: compile the single executable with the build script, copy it alone into an
// empty folder and run it from there, with an environment that names no Bun and no node_modules,
// through the whole hold-and-pay flow, the embedded migrations, Swagger UI and the command line's
// exit codes. (Hiding Bun and node_modules from the file system needs a mount namespace and root;
// the manual check in the build issue did that. Here the process simply gets no PATH to them.)

import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Subprocess } from "bun";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import packageJson from "../../package.json" with { type: "json" };
import { build } from "../../scripts/build.ts";
import { signWebhook } from "../../src/auth/webhook-signature.ts";
import { SECRETS, saleBody } from "../support/harness.ts";
import { freePort, waitReady } from "../support/process.ts";

/** The compile takes a few seconds here; on a slow, busy machine much longer. */
const BUILD_TIMEOUT_MS = 120_000;
const TEST_TIMEOUT_MS = 30_000;

let root: string;
let folder: string;
let executable: string;
let server: Subprocess | undefined;
let serverOutput = "";

/** Only what the executable needs: no PATH to Bun, no NODE_PATH, nothing from this test's process. */
function bareEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { PATH: folder, HOME: folder, ...SECRETS, STAMPEDE_DATA_DIR: join(folder, "data"), ...extra };
}

function runCli(args: string[], env: Record<string, string> = bareEnv()) {
  const result = Bun.spawnSync([executable, ...args], { cwd: folder, env, stdout: "pipe", stderr: "pipe" });
  return { code: result.exitCode, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "stampede-binary-"));
  const built = await build({ outfile: join(root, "build", "stampede"), log: () => {} });
  folder = join(root, "alone");
  mkdirSync(folder);
  executable = join(folder, "stampede");
  copyFileSync(built.outfile, executable);
  expect(readdirSync(folder)).toEqual(["stampede"]);
}, BUILD_TIMEOUT_MS);

afterAll(() => {
  server?.kill("SIGKILL");
  if (root !== undefined) rmSync(root, { recursive: true, force: true });
});

test(
  "the executable alone serves the hold-and-pay flow and drains on SIGTERM",
  async () => {
    const port = freePort();
    const url = `http://127.0.0.1:${port}`;
    server = Bun.spawn([executable, "serve"], {
      cwd: folder,
      env: bareEnv({
        PORT: String(port),
        HOST: "127.0.0.1",
        STAMPEDE_WORKERS: "1",
        STAMPEDE_RATE_LIMIT_BUYER: "0",
        STAMPEDE_RATE_LIMIT_ADDRESS: "0",
      }),
      stdout: "pipe",
      stderr: "pipe",
    });
    void (async () => {
      for await (const chunk of server.stderr as ReadableStream<Uint8Array>) serverOutput += new TextDecoder().decode(chunk);
    })();
    try {
      await waitReady(url, 15_000, server);
    } catch (error) {
      await Bun.sleep(100); // let the last of its output arrive
      throw new Error(`${(error as Error).message}; its output:\n${serverOutput}`);
    }

    // Swagger UI's assets and the migrations come from the executable's embedded files.
    expect((await fetch(`${url}/swagger`)).status).toBe(200);
    const bundle = await fetch(`${url}/swagger/assets/swagger-ui-bundle.js`);
    expect(bundle.status).toBe(200);
    expect((await bundle.arrayBuffer()).byteLength).toBeGreaterThan(100_000);
    const spec = (await (await fetch(`${url}/swagger/json`)).json()) as { openapi: string };
    expect(spec.openapi).toStartWith("3.");
    // So do the dashboard's page and every script and style it loads.
    const dashboard = await fetch(`${url}/dashboard`);
    expect(dashboard.status).toBe(200);
    expect(await dashboard.text()).toContain("/dashboard/assets/dashboard.js");
    for (const asset of ["dashboard.js", "api.js", "charts.js", "render.js", "sse.js", "dashboard.css", "uPlot.iife.min.js", "uPlot.min.css"]) {
      const response = await fetch(`${url}/dashboard/assets/${asset}`);
      expect({ asset, status: response.status }).toEqual({ asset, status: 200 });
      expect((await response.arrayBuffer()).byteLength).toBeGreaterThan(500);
    }

    const admin = { authorization: `Bearer ${SECRETS.STAMPEDE_ADMIN_TOKEN}`, "content-type": "application/json" };
    const created = await fetch(`${url}/v1/admin/sales`, { method: "POST", headers: admin, body: JSON.stringify(saleBody("drop-bin")) });
    expect(created.status).toBe(201);

    const minted = runCli(["token", "--user", "alice"]);
    expect(minted.code).toBe(0);
    const buyer = { authorization: `Bearer ${minted.stdout.trim()}`, "content-type": "application/json" };
    const hold = await fetch(`${url}/v1/sales/drop-bin/reservations`, {
      method: "POST",
      headers: buyer,
      body: JSON.stringify({ itemId: "hoodie-m", quantity: 1 }),
    });
    expect(hold.status).toBe(201);
    const reservation = (await hold.json()) as { id: string; amount: number; userId: string };
    expect(reservation.userId).toBe("alice");

    const event = JSON.stringify({
      eventId: "evt_bin",
      paymentId: "pay_bin",
      saleId: "drop-bin",
      reservationId: reservation.id,
      status: "succeeded",
      amount: reservation.amount,
      currency: "USD",
    });
    const signature = signWebhook(SECRETS.STAMPEDE_WEBHOOK_SECRET, event, Math.floor(Date.now() / 1000));
    const paid = await fetch(`${url}/v1/webhooks/payments`, {
      method: "POST",
      headers: { "content-type": "application/json", "stampede-signature": signature },
      body: event,
    });
    expect(await paid.json()).toEqual({ outcome: "confirmed" });

    const read = await fetch(`${url}/v1/sales/drop-bin/reservations/${reservation.id}`, { headers: buyer });
    expect(((await read.json()) as { status: string }).status).toBe("confirmed");

    expect(runCli(["healthcheck", "--port", String(port)]).code).toBe(0);

    server.kill("SIGTERM");
    expect(await server.exited).toBe(0);
    expect(serverOutput).toContain('"msg":"stopped"');
  },
  TEST_TIMEOUT_MS,
);

test(
  "--version, --help, migrate, and operator mistakes exit 2 with one line",
  () => {
    const version = runCli(["--version"]);
    expect(version).toEqual({ code: 0, stdout: `${packageJson.version}\n`, stderr: "" });
    const help = runCli(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("stampede serve");

    const migrated = runCli(["migrate"], bareEnv({ STAMPEDE_DATA_DIR: join(folder, "migrated") }));
    expect(migrated.code).toBe(0);
    expect(readdirSync(join(folder, "migrated"))).toContain("store.db");

    const mistakes: [string[], Record<string, string>, RegExp][] = [
      [["serve", "--bogus"], {}, /unknown flag --bogus/],
      [["serve", "--port", "nope"], {}, /--port must be an integer/],
      [["serve"], { DATABASE_URL: "mysql://db/x" }, /DATABASE_URL must look like postgres:\/\//],
      [["serve"], { DATABASE_URL: "postgres://postgres@127.0.0.1:1/x" }, /cannot reach PostgreSQL .*DATABASE_URL/],
      [["serve"], { STAMPEDE_DATA_DIR: join(executable, "data") }, /data dir .* is not writable/],
      [["serve"], { STAMPEDE_WEBHOOK_SECRET: "short" }, /STAMPEDE_WEBHOOK_SECRET is shorter than 16/],
    ];
    for (const [args, env, message] of mistakes) {
      const result = runCli(args, bareEnv({ PORT: String(freePort()), HOST: "127.0.0.1", ...env }));
      expect({ args, env, code: result.code }).toEqual({ args, env, code: 2 });
      expect(result.stderr).toMatch(message);
      expect(result.stderr.trimEnd().split("\n")).toHaveLength(1);
    }
  },
  TEST_TIMEOUT_MS,
);
