// A throwaway PostgreSQL database per benchmark run: the numbers never depend on (and the run never
// damages) anyone else's data, and a crashed run leaves nothing behind once it is dropped.
import { randomBytes } from "node:crypto";
import pg from "pg";

export const ADMIN_URL =
  process.env.BENCH_DATABASE_ADMIN_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";

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

/** Creates an empty database `<prefix>_<random hex>`; drop() is idempotent and forces connections off. */
export async function createScratchDatabase(prefix = "bench"): Promise<ScratchDatabase> {
  const name = `${prefix}_${randomBytes(6).toString("hex")}`;
  // Identifiers cannot be bound as parameters; restricting the alphabet makes quoting sufficient.
  if (!/^[a-z0-9_]+$/.test(name)) throw new Error(`bad database name ${name}`);
  await withAdmin((c) => c.query(`CREATE DATABASE "${name}"`));
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  let dropped: Promise<void> | undefined;
  return {
    name,
    url: url.toString(),
    drop: () => {
      dropped ??= withAdmin(async (c) => {
        await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      });
      return dropped;
    },
  };
}

/** What a benchmark run holds: each piece is read when the run ends, so it may still be unset. */
export type RunResources = {
  scratch: () => ScratchDatabase | undefined;
  stops: () => (() => Promise<unknown>)[];
  log: (message: string) => void;
};

/**
 * The teardown of a benchmark run (servers and pools, then the scratch database), run at the end and
 * on Ctrl-C, so an interrupted run leaves no database behind; BENCH_KEEP_DB=1 keeps it to inspect.
 */
export function runCleanup({ scratch, stops, log }: RunResources): () => Promise<void> {
  const cleanup = async () => {
    for (const stop of stops()) await stop().catch((e) => console.error(`teardown step failed: ${e}`));
    const db = scratch();
    if (process.env.BENCH_KEEP_DB) log(`kept the scratch database: ${db?.url}`);
    else await db?.drop().catch((e) => console.error(`dropping ${db?.name} failed: ${e}`));
  };
  process.once("SIGINT", () => {
    log("interrupted; dropping the scratch database");
    void cleanup().finally(() => process.exit(130));
  });
  return cleanup;
}
