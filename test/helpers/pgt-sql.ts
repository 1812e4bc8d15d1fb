// Direct SQL against this run's test database (the one the servers of this process use), for
// checking what a request did or did not write. One small pool per test file; close it in afterAll.
import pg from "pg";
import { inject } from "vitest";

let pool: pg.Pool | undefined;

export async function sql<R extends pg.QueryResultRow = Record<string, unknown>>(
  text: string,
  params: unknown[] = [],
): Promise<R[]> {
  if (!pool) {
    const databaseUrl = inject("databaseUrl");
    if (!databaseUrl) throw new Error("PostgreSQL is not available for this test run");
    pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  }
  return (await pool.query<R>(text, params)).rows;
}

/** One integer from a `SELECT count(*)::int AS n ...` style query. */
export async function sqlCount(text: string, params: unknown[] = []): Promise<number> {
  const [row] = await sql<{ n: number }>(text, params);
  if (!row || typeof row.n !== "number") throw new Error(`expected one row with an int column n: ${text}`);
  return row.n;
}

export async function closeSql(): Promise<void> {
  const p = pool;
  pool = undefined;
  await p?.end();
}
