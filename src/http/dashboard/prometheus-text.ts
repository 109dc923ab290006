// Reads samples back out of the Prometheus text exposition format (0.0.4). The dashboard takes its
// counters from the same text `GET /metrics` answers, rather than from the registry's internals, so
// that it shows exactly what a Prometheus scraping this server would see and keeps working whichever
// way the registry is built.

export type Sample = { name: string; labels: Readonly<Record<string, string>>; value: number };

/**
 * The samples of the metrics whose names start with one of `prefixes` (a histogram's `_bucket`,
 * `_sum` and `_count` series share its name as a prefix). Other lines are skipped unparsed, so a
 * scrape with many per-sale series costs little beyond the scan. Lines that do not parse are
 * skipped too: a dashboard shows less, it does not fail, when the format grows something new.
 */
export function parseSamples(text: string, prefixes: readonly string[]): Sample[] {
  const samples: Sample[] = [];
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf("\n", start);
    if (end === -1) end = text.length;
    if (text.charCodeAt(start) !== 0x23 /* # */ && prefixes.some((prefix) => text.startsWith(prefix, start))) {
      const sample = parseLine(text.slice(start, end));
      if (sample !== null) samples.push(sample);
    }
    start = end + 1;
  }
  return samples;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;

function parseLine(line: string): Sample | null {
  const name = NAME.exec(line)?.[0];
  if (name === undefined) return null;
  let at = name.length;
  const labels: Record<string, string> = {};
  if (line[at] === "{") {
    const parsed = parseLabels(line, at + 1, labels);
    if (parsed === -1) return null;
    at = parsed;
  }
  // The value, then an optional timestamp, separated by spaces.
  const fields = line.slice(at).trim().split(/\s+/);
  const value = parseValue(fields[0] ?? "");
  if (value === null) return null;
  return { name, labels, value };
}

/** Parses `a="x",b="y"}` from `at`; returns the index after the `}`, or -1 when malformed. */
function parseLabels(line: string, at: number, into: Record<string, string>): number {
  let i = at;
  for (;;) {
    while (line[i] === " " || line[i] === ",") i++;
    if (line[i] === "}") return i + 1;
    const equals = line.indexOf("=", i);
    if (equals === -1 || line[equals + 1] !== '"') return -1;
    const label = line.slice(i, equals).trim();
    let value = "";
    i = equals + 2;
    for (;;) {
      const c = line[i];
      if (c === undefined) return -1;
      if (c === '"') break;
      if (c === "\\") {
        const next = line[i + 1];
        value += next === "n" ? "\n" : (next ?? "");
        i += 2;
      } else {
        value += c;
        i++;
      }
    }
    into[label] = value;
    i++;
  }
}

function parseValue(text: string): number | null {
  if (text === "+Inf") return Number.POSITIVE_INFINITY;
  if (text === "-Inf") return Number.NEGATIVE_INFINITY;
  if (text === "NaN") return Number.NaN;
  const value = Number(text);
  return text.length === 0 || Number.isNaN(value) ? null : value;
}

/** The sum of the samples of `name` whose labels match every entry of `where`. */
export function sumOf(samples: readonly Sample[], name: string, where: Readonly<Record<string, string>> = {}): number {
  let sum = 0;
  for (const sample of samples) {
    if (sample.name === name && matches(sample.labels, where)) sum += sample.value;
  }
  return sum;
}

/** Whether a sample of `name` exists at all, so that "0" and "not exported" can be told apart. */
export function has(samples: readonly Sample[], name: string): boolean {
  return samples.some((sample) => sample.name === name);
}

export function matches(labels: Readonly<Record<string, string>>, where: Readonly<Record<string, string>>): boolean {
  for (const key in where) if (labels[key] !== where[key]) return false;
  return true;
}
