// Outbound webhooks end to end with PostgreSQL as the system of record (delivery-suite.ts), each
// server on a database of its own.

import { createTestDatabase } from "../postgres/test-database.ts";
import { runDeliverySuite } from "./delivery-suite.ts";

runDeliverySuite("postgres", async () => {
  const database = await createTestDatabase("stampede_webhooks");
  return { env: { DATABASE_URL: database.url }, drop: () => database.drop() };
});
