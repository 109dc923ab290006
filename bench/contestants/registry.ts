// Every process the benchmark starts registers a synchronous kill here, so that an interrupted or
// failing run still leaves nothing running: run.ts calls killAll() on exit and on SIGINT/SIGTERM.

const killers = new Set<() => void>();

/** Register a synchronous kill; returns the function that unregisters it. */
export function track(killNow: () => void): () => void {
  killers.add(killNow);
  return () => killers.delete(killNow);
}

export function killAll(): void {
  for (const kill of killers) {
    try {
      kill();
    } catch {}
  }
  killers.clear();
}

/**
 * SIGKILL the process group a child leads (one spawned with `detached: true`, which makes it the
 * leader of a group of its own). Only while the child has not been reaped: after that its number may
 * belong to someone else's group.
 */
export function killGroup(proc: { pid: number; exitCode: number | null; signalCode: NodeJS.Signals | number | null; kill(signal?: number | NodeJS.Signals): void }): void {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  try {
    process.kill(-proc.pid, "SIGKILL");
  } catch {
    try {
      proc.kill("SIGKILL");
    } catch {}
  }
}

/** SIGKILL a pid, ignoring one that is already gone. */
export function killPid(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {}
}
