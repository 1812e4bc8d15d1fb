// Instances started at the same moment on a fresh database all come up: migrations are applied once
// under an advisory lock (core/migrations.ts), pg-boss creates its schema and every queue without a
// deadlock killing anyone (core/jobs.ts createQueueOnce), and each instance's startup work (the
// retention job's schedule, the hub's start) tolerates the others. Each round uses a new, empty
// scratch database and starts N server processes (src/server.ts, as `npm start` runs it) at once.
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { JOB_NAMES } from "../src/core/jobs.ts";
import { readMigrations } from "../src/core/migrations.ts";
import { killAll, type ServerProc, startServerProcess } from "./helpers/processes.ts";
import { createScratchDatabase } from "./helpers/scratch-database.ts";
import { TEST_JWT_SECRET } from "./helpers/server.ts";
import { within } from "./helpers/wait.ts";

afterAll(() => killAll());

const ROUNDS = 3;

/** One round: N processes against one fresh database; every one must print "ready" and answer. */
async function round(instances: number) {
  const db = await createScratchDatabase("startup_race");
  const started: ServerProc[] = [];
  try {
    const results = await Promise.allSettled(
      Array.from({ length: instances }, () =>
        startServerProcess({ DATABASE_URL: db.url, JWT_SECRET: TEST_JWT_SECRET }).then((p) => {
          started.push(p);
          return p;
        }),
      ),
    );
    const failures = results.flatMap((r) =>
      r.status === "rejected" ? [String(r.reason).slice(0, 2_000)] : [],
    );
    expect(failures).toEqual([]);
    // Ready means ready: each answers /readyz and a GraphQL request.
    for (const p of started) {
      const base = p.url.replace(/\/graphql$/, "");
      expect((await fetch(`${base}/readyz`)).status).toBe(200);
      const res = await fetch(p.url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ query: "{ __typename }" }),
      });
      expect(res.status).toBe(200);
    }
    // Applied once each, and every queue exists once.
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const applied = await client.query(
        `SELECT migration_name FROM "_prisma_migrations" WHERE finished_at IS NOT NULL ORDER BY migration_name`,
      );
      expect(applied.rows.map((r) => r.migration_name)).toEqual(readMigrations().map((m) => m.name));
      const queues = await client.query(`SELECT name FROM pgboss.queue ORDER BY name`);
      expect(queues.rows.map((r) => r.name)).toEqual([...JOB_NAMES].sort());
    } finally {
      await client.end();
    }
  } finally {
    for (const p of started) p.signal("SIGTERM");
    await Promise.all(
      started.map((p) => within(p.exited, 15_000, "an instance to exit").catch(() => p.kill())),
    );
    await db.drop();
  }
}

describe("instances started together on a fresh database", () => {
  for (const instances of [2, 4]) {
    it(`${instances} instances, ${ROUNDS} rounds: every instance becomes ready`, {
      timeout: 300_000,
    }, async () => {
      for (let i = 0; i < ROUNDS; i++) await round(instances);
    });
  }
});
