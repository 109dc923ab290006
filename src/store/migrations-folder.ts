// Where drizzle-kit's migrations for each dialect live. From a checkout they sit in drizzle/<dialect>
// at the repository root. In the single executable (`bun run build`, scripts/build.ts) the build
// embeds drizzle/ with `--asset`, which keeps the relative paths under the embedded root, where
// every bundled entry point (the program and its worker threads) sits, so `import.meta.dir` is
// that root (`/$bunfs/root`). drizzle's migrator only calls existsSync and readFileSync on the
// folder, and both read embedded files, so nothing is extracted to disk.

import { join } from "node:path";
import { fileURLToPath } from "node:url";

export function migrationsFolder(dialect: "sqlite" | "postgres"): string {
  if (Bun.isStandaloneExecutable) return join(import.meta.dir, "drizzle", dialect);
  return fileURLToPath(new URL(`../../drizzle/${dialect}`, import.meta.url));
}
