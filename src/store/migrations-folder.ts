// Where drizzle-kit's migrations for each dialect live. From a checkout they sit in drizzle/<dialect>
// at the repository root.

import { fileURLToPath } from "node:url";

export function migrationsFolder(dialect: "sqlite" | "postgres"): string {
  return fileURLToPath(new URL(`../../drizzle/${dialect}`, import.meta.url));
}
