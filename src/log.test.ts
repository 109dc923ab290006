// Repeated lines are rate limited: the first of a kind at once, then one summary per window with
// the count, in bounded memory whatever the number of kinds.

import { describe, expect, test } from "bun:test";
import { type Level, RepeatedLines } from "./log.ts";

type Line = { level: Level; msg: string; fields: Record<string, unknown> };

function collector() {
  const lines: Line[] = [];
  const repeated = new RepeatedLines((level, msg, fields) => lines.push({ level, msg, fields }), 60_000);
  return { lines, repeated };
}

describe("RepeatedLines", () => {
  test("1546 refusals of one kind are two lines: the first, then how many more in the window", () => {
    const { lines, repeated } = collector();
    for (let i = 0; i < 1546; i++) repeated.note("unauthorized hold", "warn", "auth.refused", "credentials refused (401)", { route: "/r" });
    expect(lines).toEqual([{ level: "warn", msg: "credentials refused (401)", fields: { event: "auth.refused", route: "/r" } }]);
    repeated.flush();
    expect(lines[1]).toEqual({
      level: "warn",
      msg: "credentials refused (401) x 1545 more in the last 60 s",
      fields: { event: "auth.refused", route: "/r", repeated: 1545, windowSeconds: 60 },
    });
    // A new window starts with a line at once again; a quiet kind writes no summary.
    repeated.note("unauthorized hold", "warn", "auth.refused", "credentials refused (401)", { route: "/r" });
    repeated.flush();
    expect(lines).toHaveLength(3);
  });

  test("kinds are apart, and past the bound new kinds share one line", () => {
    const { lines, repeated } = collector();
    repeated.note("a", "warn", "e.a", "a");
    repeated.note("b", "warn", "e.b", "b");
    expect(lines.map((line) => line.msg)).toEqual(["a", "b"]);
    for (let i = 0; i < 5_000; i++) repeated.note(`kind ${i}`, "warn", "e.many", "many");
    expect(lines.length).toBeLessThanOrEqual(1_001);
    expect(lines.at(-1)?.msg).toBe("repeated lines of too many kinds");
    repeated.flush();
  });
});
