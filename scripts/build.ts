// `bun run build`: compile the server into one executable, dist/stampede, that needs neither Bun
// nor node_modules where it runs. The drizzle migrations of every dialect folder under drizzle/
// are embedded with `--asset=drizzle`, which keeps the paths below drizzle/ (a single file given to
// `--asset` would land flat in the root, and the dialects' meta/_journal.json files would collide);
// src/store/migrations-folder.ts finds them at `<embedded root>/drizzle/<dialect>`. drizzle's
// migrator reads only meta/_journal.json and the .sql files; the drizzle-kit snapshots beside
// them ride along (a few KiB).
// The Swagger UI assets are embedded by their `with { type: "file" }` imports in src/http/docs.ts.
//
// Worker threads (`new Worker(new URL("./x.ts", import.meta.url))`) are not followed by the bundler:
// each worker file must be an extra entry point. The build finds them in src/ itself, so a new
// worker cannot be forgotten. Entry points are named `[name].js` in the embedded root, which is
// where the bundled program resolves "./x.ts" (its import.meta.url is `/$bunfs/root/stampede`, and
// Bun maps the .ts specifier onto the bundled .js), so the specifier must be a sibling "./x.ts".
//
// `--bytecode` precompiles the code for a faster start and needs `--format=esm` because of
// top-level await. Should a Bun release refuse it, the build says so loudly and compiles without.

import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, join, relative, resolve } from "node:path";
import packageJson from "../package.json" with { type: "json" };

const ROOT = resolve(import.meta.dir, "..");
const ENTRY = "src/main.ts";
/** Relative to ROOT, so that it is embedded as `drizzle/...`. */
const MIGRATIONS_DIR = "drizzle";
const DEFAULT_OUTFILE = join(ROOT, "dist", "stampede");
/** A smoke run of the fresh executable must answer `--version` within this. */
const SMOKE_TIMEOUT_MS = 15_000;

export type BuildOptions = {
  /** Where to write the executable; default dist/stampede in the checkout. */
  outfile?: string;
  /** Progress lines; default stderr. */
  log?: (line: string) => void;
};

export type BuildResult = {
  outfile: string;
  bytes: number;
  /** False when `--bytecode` failed and the executable was compiled without it. */
  bytecode: boolean;
  /** The embedded migration files, relative to the checkout. */
  assets: string[];
  /** Worker entry points compiled in beside the program, relative to the checkout. */
  workers: string[];
};

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith(".ts") && !entry.name.endsWith(".test.ts") ? [path] : [];
  });
}

/**
 * The worker files that src/ starts with `new Worker(new URL("./x.ts", import.meta.url)...)` or
 * `new Worker("./x.ts")`. Any other form fails the build: it would compile, then fail at run time.
 */
export function workerEntryPoints(root = ROOT): string[] {
  const workers = new Set<string>();
  for (const file of sourceFiles(join(root, "src"))) {
    const text = readFileSync(file, "utf8");
    for (const match of text.matchAll(/new Worker\(([^)]*\)?)/g)) {
      const call = match[1] ?? "";
      const specifier = /^\s*(?:new URL\(\s*)?["'](\.\/[\w.-]+\.ts)["']/.exec(call)?.[1];
      const where = `${relative(root, file)}: new Worker(${call.trim()}`;
      if (specifier === undefined) throw new Error(`${where} -- start workers from a sibling "./name.ts"`);
      const worker = join(dirname(file), specifier);
      if (!existsSync(worker)) throw new Error(`${where} -- ${relative(root, worker)} does not exist`);
      workers.add(relative(root, worker));
    }
  }
  const names = [...workers].map((worker) => basename(worker));
  const clash = names.find((name, index) => names.indexOf(name) !== index);
  if (clash !== undefined) throw new Error(`two workers are named ${clash}; they would share one path in the executable`);
  return [...workers].sort();
}

/**
 * The files drizzle's migrator reads, for each dialect folder under drizzle/: meta/_journal.json
 * and every .sql file. Fails the build when a dialect folder has no journal or its journal names a
 * file that is missing, rather than shipping an executable whose first start would fail.
 */
export function migrationAssets(root = ROOT): string[] {
  const drizzleDir = join(root, MIGRATIONS_DIR);
  const assets: string[] = [];
  for (const dialect of readdirSync(drizzleDir).sort()) {
    const dir = join(drizzleDir, dialect);
    if (!statSync(dir).isDirectory()) continue;
    const journalPath = join(dir, "meta", "_journal.json");
    if (!existsSync(journalPath)) throw new Error(`${relative(root, dir)} has no meta/_journal.json`);
    const journal = JSON.parse(readFileSync(journalPath, "utf8")) as { entries?: { tag: string }[] };
    for (const entry of journal.entries ?? []) {
      if (!existsSync(join(dir, `${entry.tag}.sql`))) {
        throw new Error(`${relative(root, journalPath)} names ${entry.tag}.sql, which is missing`);
      }
    }
    assets.push(relative(root, journalPath));
    for (const name of readdirSync(dir).sort()) {
      if (name.endsWith(".sql")) assets.push(relative(root, join(dir, name)));
    }
  }
  if (assets.length === 0) throw new Error("no migrations under drizzle/");
  return assets;
}

async function run(command: string[], cwd: string): Promise<{ code: number; output: string }> {
  const proc = Bun.spawn(command, { cwd, stdout: "pipe", stderr: "pipe", env: process.env });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { code, output: `${stdout}${stderr}`.trim() };
}

async function compile(outfile: string, workers: string[], bytecode: boolean): Promise<{ code: number; output: string }> {
  const args = [
    "build",
    "--compile",
    "--minify",
    ...(bytecode ? ["--bytecode"] : []),
    "--format=esm",
    // The repository's bunfig.toml is for installs and tests; the executable must not pick up
    // whichever bunfig.toml lies in the directory it is started from. (.env files are still read,
    // as `bun run start` does.)
    "--no-compile-autoload-bunfig",
    `--asset=${MIGRATIONS_DIR}`,
    // Every entry point flat in the embedded root (see the top of this file).
    "--entry-naming=[name].[ext]",
    `--outfile=${outfile}`,
    ENTRY,
    ...workers,
  ];
  // process.execPath is the Bun running this script, so the executable embeds that same runtime.
  return run([process.execPath, ...args], ROOT);
}

async function smokeTest(outfile: string): Promise<void> {
  const proc = Bun.spawn([outfile, "--version"], { stdout: "pipe", stderr: "pipe", env: {} });
  const timer = setTimeout(() => proc.kill("SIGKILL"), SMOKE_TIMEOUT_MS);
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  clearTimeout(timer);
  if (code !== 0 || stdout.trim() !== packageJson.version) {
    throw new Error(`${outfile} --version answered ${code}: ${stdout.trim()} ${stderr.trim()}`);
  }
}

export async function build(options: BuildOptions = {}): Promise<BuildResult> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const outfile = resolve(options.outfile ?? DEFAULT_OUTFILE);
  const assets = migrationAssets();
  const workers = workerEntryPoints();
  log(`embedding ${MIGRATIONS_DIR}/, with ${assets.length} migration files: ${assets.join(", ")}`);
  log(`worker entry points: ${workers.length === 0 ? "none" : workers.join(", ")}`);

  let bytecode = true;
  let result = await compile(outfile, workers, true);
  if (result.code !== 0) {
    log(`WARNING: bun build --bytecode failed (exit ${result.code}); compiling without bytecode:\n${result.output}`);
    bytecode = false;
    result = await compile(outfile, workers, false);
  }
  if (result.code !== 0) throw new Error(`bun build failed (exit ${result.code}):\n${result.output}`);

  await smokeTest(outfile);
  const bytes = statSync(outfile).size;
  log(`wrote ${relative(process.cwd(), outfile) || outfile} (${(bytes / 1024 / 1024).toFixed(1)} MiB, bytecode ${bytecode ? "on" : "OFF"})`);
  return { outfile, bytes, bytecode, assets, workers };
}

if (import.meta.main) {
  build().catch((error: unknown) => {
    process.stderr.write(`build failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
