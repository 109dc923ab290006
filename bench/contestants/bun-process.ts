// A small Bun server of the benchmark's own (the ceiling, a baseline, a webhook receiver) as a child
// process on a fresh port, ready when its /healthz answers 200. It runs in a process group of its own
// and is killed with that whole group, so that nothing it might start outlives it.

import type { Subprocess } from "bun";
import { freePort } from "../../test/support/process.ts";
import { killGroup, track } from "./registry.ts";

export class BunServerProcess {
  readonly port = freePort();
  readonly url = `http://127.0.0.1:${this.port}`;
  readonly proc: Subprocess;
  private stderr = "";
  private readonly untrack: () => void;

  private constructor(script: string, env: Record<string, string>) {
    const proc = Bun.spawn(["bun", script], {
      env: { ...process.env, ...env, PORT: String(this.port) },
      stdout: "ignore",
      stderr: "pipe",
      detached: true,
    });
    this.proc = proc;
    this.untrack = track(() => killGroup(proc));
    void (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of proc.stderr) {
        this.stderr = (this.stderr + decoder.decode(chunk, { stream: true })).slice(-4000);
      }
    })();
  }

  static async start(script: string, env: Record<string, string> = {}, readyPath = "/healthz"): Promise<BunServerProcess> {
    const server = new BunServerProcess(script, env);
    const deadline = performance.now() + 20_000;
    while (performance.now() < deadline) {
      if (server.proc.exitCode !== null) break;
      try {
        const response = await fetch(`${server.url}${readyPath}`, { signal: AbortSignal.timeout(1_000) });
        if (response.status === 200) return server;
      } catch {}
      await Bun.sleep(20);
    }
    await server.kill();
    throw new Error(`${script} did not come up: ${server.stderr.slice(-1500)}`);
  }

  crashed(): string | null {
    return this.proc.exitCode === null ? null : `exited with ${this.proc.exitCode}: ${this.stderr.slice(-500)}`;
  }

  async kill(): Promise<void> {
    killGroup(this.proc);
    this.untrack();
    await this.proc.exited;
  }
}
