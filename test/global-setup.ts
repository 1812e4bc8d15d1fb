// Vitest globalSetup: one fresh, migrated PostgreSQL database per test run, dropped afterwards.
// Tests get its URL with `inject("databaseUrl")`.
import type { TestProject } from "vitest/node";
import { applyMigrations } from "../src/core/migrations.ts";
import { ADMIN_URL, createScratchDatabase, postgresAvailable } from "./helpers/scratch-database.ts";

declare module "vitest" {
  interface ProvidedContext {
    /** URL of this run's migrated test database; "" when PostgreSQL is unreachable outside CI. */
    databaseUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  if (!(await postgresAvailable())) {
    // In CI a missing server is an error. Locally, PostgreSQL-free tests (e.g. the embedded PGlite
    // smoke test) should still run, so only warn; tests that need the database then skip or fail.
    if (process.env.CI)
      throw new Error(`PostgreSQL is not reachable at ${ADMIN_URL} (TEST_DATABASE_ADMIN_URL)`);
    console.warn(`warning: PostgreSQL is not reachable at ${ADMIN_URL}; database tests will not run`);
    project.provide("databaseUrl", "");
    return async () => {};
  }
  const db = await createScratchDatabase("messaging_test");
  try {
    await applyMigrations(db.url);
  } catch (error) {
    await db.drop();
    throw error;
  }
  project.provide("databaseUrl", db.url);
  return () => db.drop();
}
