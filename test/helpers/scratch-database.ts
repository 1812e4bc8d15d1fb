// Scratch PostgreSQL databases for tests: created on the shared server under a random name and dropped
// with FORCE, so a test never depends on (or damages) another run's data.
import { randomBytes } from "node:crypto";
import pg from "pg";

export const ADMIN_URL =
  process.env.TEST_DATABASE_ADMIN_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";

export type ScratchDatabase = { name: string; url: string; drop(): Promise<void> };

async function withAdmin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Creates an empty database `<prefix>_<random hex>` on the admin URL's server. */
export async function createScratchDatabase(prefix: string): Promise<ScratchDatabase> {
  // Only [a-z0-9_] end up in the name, so quoting it is enough.
  const name = `${prefix}_${randomBytes(6).toString("hex")}`;
  if (!/^[a-z0-9_]+$/.test(name)) throw new Error(`bad database name ${name}`);
  await withAdmin((c) => c.query(`CREATE DATABASE "${name}"`));
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    drop: () =>
      withAdmin(async (c) => {
        // Let the stopped apps' pools finish closing first: pg's pool.end() can resolve before its
        // sockets are gone, and a connection FORCE terminates then makes pg emit an 'error' in the
        // test process that nobody listens to any more (an uncaught exception, failing the run).
        const deadline = Date.now() + 10_000;
        while (Date.now() < deadline) {
          const { rowCount } = await c.query("SELECT 1 FROM pg_stat_activity WHERE datname = $1", [name]);
          if (rowCount === 0) break;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      }),
  };
}

/** True when the admin URL accepts connections (used to decide between failing and skipping). */
export async function postgresAvailable(): Promise<boolean> {
  try {
    await withAdmin((c) => c.query("SELECT 1"));
    return true;
  } catch {
    return false;
  }
}
