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

/** SIGKILL a pid, ignoring one that is already gone. */
export function killPid(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {}
}
