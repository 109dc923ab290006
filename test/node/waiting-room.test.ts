// Node mode and the waiting room: when the node that owns a sale dies, the node that takes the sale
// over loads it from PostgreSQL, room included. Two nodes share one PostgreSQL; the room is drawn,
// queued, partly admitted and paused through the node that does not own the sale, the owner is
// SIGKILLed (its whole process group), and the survivor tells every buyer the same position or the
// same admission token as before; then the room goes on in order and an admitted buyer holds.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { createTestDatabase, type TestDatabase } from "../postgres/test-database.ts";
import { expectRoomGoesOn, expectRoomKept, frozenRoom } from "../support/room-scenario.ts";
import { startNode, type TestNode } from "./support.ts";

/** Node mode signs admissions with one key on every node. */
const env = { STAMPEDE_ADMISSION_SECRET: "test-admission-secret-0123456789abcdef" };

let database: TestDatabase;
const nodes: TestNode[] = [];

beforeAll(async () => {
  database = await createTestDatabase("stampede_node_room");
  nodes.push(...(await Promise.all([startNode("a", database.url, { env }), startNode("b", database.url, { env })])));
}, 60_000);

afterAll(async () => {
  for (const node of nodes) await node.killHard();
  await database?.drop();
  for (const node of nodes) rmSync(node.dataDir, { recursive: true, force: true });
});

async function ownerOf(saleId: string): Promise<string | null> {
  const [row] = await database.sql`SELECT node_id FROM sale_leases WHERE sale_id = ${saleId} AND expires_at > now()`;
  return (row?.node_id as string | null | undefined) ?? null;
}

test("a dead node's waiting room is served by the node that takes its sale, with every place and admission", async () => {
  const saleId = "node-room";
  const before = await frozenRoom((nodes[0] as TestNode).url, saleId);
  const owner = await ownerOf(saleId);
  expect(owner === "a" || owner === "b").toBe(true);
  // The store holds the room as acknowledged: every buyer has a row.
  const [{ places }] = (await database.sql`SELECT count(*)::int8 AS places FROM queue_places WHERE sale_id = ${saleId}`) as unknown as [{ places: number }];
  expect(places).toBe(before.size);
  const victim = nodes.find((node) => node.id === owner) as TestNode;
  const survivor = nodes.find((node) => node.id !== owner) as TestNode;
  await victim.killHard();
  await expectRoomKept(survivor.url, saleId, before);
  expect(await ownerOf(saleId)).toBe(survivor.id);
  await expectRoomGoesOn(survivor.url, saleId, before);
}, 90_000);
