// Broadcast fan-out benchmark: `npm run bench:broadcast`.
//
// On a scratch PostgreSQL database with BENCH_USERS (10,000) users and nothing else, the real server
// (its own process, production mode) is asked over HTTP to broadcast to everyone. Timed from the
// request to the broadcast's COMPLETED status, which the last fan-out batch sets in the transaction
// that writes the last recipients: every recipient row, notification and `notification.created`
// event is written by then. Users have no targets, so the route is in-app only (no provider
// deliveries; those are timed by their providers, not by fan-out).
// Beside it, in the same run and on the same database, the raw floor: the same rows (notifications,
// events, recipients) inserted with plain SQL over `pg`, one transaction per batch of the same size,
// reading the audience the same way. Rounds alternate; the best of each counts.
// Target: API deliveries/s >= 1/3 of the floor's. Prints PASS/FAIL and exits 0 either way.
import pg from "pg";
import { uuidv7 } from "./raw-send.ts";
import { createScratchDatabase, runCleanup, type ScratchDatabase } from "./scratch-db.ts";
import { type ServerProcess, startServerProcess } from "./server-process.ts";
import { envInt, fmt, table } from "./stats.ts";

const USERS = envInt("BENCH_USERS", 10_000);
const BATCH = envInt("BENCH_BATCH", 1_000);
const ROUNDS = envInt("BENCH_ROUNDS", 3);
const TARGET_RATIO = 1 / 3;
const API_KEY = "bench-api-key-0123456789abcdef";

const started = performance.now();
const log = (message: string) =>
  console.log(`[bench ${fmt((performance.now() - started) / 1000, 1)}s] ${message}`);

function openPool(url: string, max: number): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max });
  // A DROP DATABASE ... WITH (FORCE) at the end may end a connection still closing (57P01).
  pool.on("error", (error: Error & { code?: string }) => {
    if (error.code !== "57P01") console.error(`database pool error: ${error.message}`);
  });
  return pool;
}

async function seedUsers(pool: pg.Pool, n: number) {
  // v7 ids, as the API creates users: the fan-out walks them in id order.
  const ids = Array.from({ length: n }, () => uuidv7());
  await pool.query(
    `INSERT INTO "User" (id, username, "usernameKey", "displayName", "updatedAt")
     SELECT id, 'bench_' || i, 'bench_' || i, 'Bench user ' || i, now()
     FROM unnest($1::uuid[]) WITH ORDINALITY AS t(id, i)`,
    [ids],
  );
  await pool.query(`VACUUM (ANALYZE) "User"`);
}

async function graphql(url: string, query: string, variables: Record<string, unknown>) {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", "x-api-key": API_KEY },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as { data?: Record<string, unknown>; errors?: unknown[] };
  if (body.errors?.length || !body.data) throw new Error(`GraphQL failed: ${JSON.stringify(body)}`);
  return body.data;
}

const BROADCAST = `mutation Bench($input: BroadcastInput!) { broadcast(input: $input) { id status } }`;

type Run = { kind: "api" | "raw"; round: number; seconds: number; rows: number; perSecond: number };

/** One broadcast to everyone through the API, timed until its status is COMPLETED. */
async function apiRun(url: string, pool: pg.Pool, round: number): Promise<Run> {
  const t0 = performance.now();
  const data = await graphql(url, BROADCAST, {
    input: { everyone: true, title: `Bench ${round}`, body: "A broadcast to every user" },
  });
  const id = (data.broadcast as { id: string }).id;
  for (;;) {
    const { rows } = await pool.query<{ status: string; total: number }>(
      `SELECT status::text, total FROM "Broadcast" WHERE id = $1::uuid`,
      [id],
    );
    if (rows[0]?.status === "COMPLETED") {
      const seconds = (performance.now() - t0) / 1000;
      const total = rows[0].total;
      if (total !== USERS) throw new Error(`broadcast reached ${total} users, expected ${USERS}`);
      const check = await pool.query<{ n: string }>(
        `SELECT count(*) AS n FROM "Notification" WHERE "broadcastId" = $1::uuid`,
        [id],
      );
      if (Number(check.rows[0]?.n) !== USERS)
        throw new Error(`wrong notification count: ${check.rows[0]?.n}`);
      return { kind: "api", round, seconds, rows: total, perSecond: total / seconds };
    }
    if (performance.now() - t0 > 300_000) throw new Error("broadcast did not complete in 5 minutes");
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** The floor: the same rows a fan-out batch writes, with plain SQL, one transaction per batch. */
async function rawRun(pool: pg.Pool, round: number): Promise<Run> {
  const broadcastId = uuidv7();
  await pool.query(
    `INSERT INTO "Broadcast" (id, kind, priority, audience, title, body, status, "fanoutDone")
     VALUES ($1::uuid, 'ANNOUNCEMENT', 'NORMAL', 'EVERYONE', $2, 'raw floor', 'SENDING', false)`,
    [broadcastId, `Raw ${round}`],
  );
  const t0 = performance.now();
  const c = await pool.connect();
  let cursor = "00000000-0000-0000-0000-000000000000";
  let total = 0;
  try {
    for (;;) {
      await c.query("BEGIN");
      // A log writer registers first, as the app's writer does (prisma/migrations/*_event_log_writers).
      await c.query("SELECT event_log_register()");
      const { rows } = await c.query<{ id: string }>(
        `SELECT id::text FROM "User" WHERE id > $1::uuid ORDER BY id LIMIT $2`,
        [cursor, BATCH],
      );
      const users = rows.map((r) => r.id);
      if (users.length) {
        const ids = users.map(() => uuidv7());
        await c.query(
          `INSERT INTO "Notification" (id, "userId", type, title, body, priority, data, status, "broadcastId")
           SELECT n, u, 'broadcast.announcement', $3, 'raw floor', 'NORMAL', '{}'::jsonb, 'DELIVERED', $4::uuid
           FROM unnest($1::uuid[], $2::uuid[]) AS t(n, u)`,
          [ids, users, `Raw ${round}`, broadcastId],
        );
        await c.query(
          `INSERT INTO "Event" (type, "userId", payload)
           SELECT 'notification.created', u, jsonb_build_object('notificationId', n, 'broadcastId', $3::text)
           FROM unnest($1::uuid[], $2::uuid[]) AS t(n, u)`,
          [ids, users, broadcastId],
        );
        await c.query(
          `INSERT INTO "BroadcastRecipient" ("broadcastId", "userId", "notificationId", state, "updatedAt")
           SELECT $3::uuid, u, n, 'SENT', now() FROM unnest($1::uuid[], $2::uuid[]) AS t(n, u)`,
          [ids, users, broadcastId],
        );
        cursor = users[users.length - 1] as string;
        total += users.length;
      }
      await c.query("COMMIT");
      if (users.length < BATCH) break;
    }
  } finally {
    c.release();
  }
  const seconds = (performance.now() - t0) / 1000;
  await pool.query(`UPDATE "Broadcast" SET status = 'COMPLETED', total = $2 WHERE id = $1::uuid`, [
    broadcastId,
    total,
  ]);
  return { kind: "raw", round, seconds, rows: total, perSecond: total / seconds };
}

async function main(): Promise<void> {
  let scratch: ScratchDatabase | undefined;
  let app: ServerProcess | undefined;
  let pool: pg.Pool | undefined;
  const cleanup = runCleanup({
    scratch: () => scratch,
    stops: () => [() => app?.stop() ?? Promise.resolve(), () => pool?.end() ?? Promise.resolve()],
    log,
  });
  try {
    scratch = await createScratchDatabase("bench_bc");
    log(`scratch database ${scratch.name}`);
    app = await startServerProcess({
      NODE_ENV: "production",
      DATABASE_URL: scratch.url,
      JWT_SECRET: "bench-jwt-secret-0123456789abcdef0123456789",
      API_KEY,
      BROADCAST_BATCH_SIZE: String(BATCH),
      LOG_LEVEL: "warn",
    });
    log(`app listening at ${app.url}; broadcast batch size ${BATCH}`);
    pool = openPool(scratch.url, 2);
    await seedUsers(pool, USERS);
    log(`seeded ${USERS} users (no targets: in-app route)`);

    // Warm-up: JIT, connection pools, pg-boss queues, plan caches, on both sides.
    await apiRun(app.url, pool, 0);
    await rawRun(pool, 0);
    log("warm-up done");

    const runs: Run[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      runs.push(await apiRun(app.url, pool, round));
      log(`API broadcast, round ${round}: ${fmt(runs.at(-1)?.perSecond ?? 0, 0)} deliveries/s`);
      runs.push(await rawRun(pool, round));
      log(`raw SQL floor, round ${round}: ${fmt(runs.at(-1)?.perSecond ?? 0, 0)} deliveries/s`);
    }
    const best = (kind: Run["kind"]) =>
      runs.filter((r) => r.kind === kind).reduce((a, b) => (b.perSecond > a.perSecond ? b : a));
    const api = best("api");
    const raw = best("raw");
    const ratio = api.perSecond / raw.perSecond;
    console.log("");
    console.log(
      table(
        ["round", "API s", "API deliveries/s", "floor s", "floor deliveries/s", "ratio"],
        Array.from({ length: ROUNDS }, (_, i) => {
          const a = runs.find((r) => r.kind === "api" && r.round === i + 1);
          const r = runs.find((x) => x.kind === "raw" && x.round === i + 1);
          return [
            String(i + 1),
            fmt(a?.seconds ?? Number.NaN, 3),
            fmt(a?.perSecond ?? Number.NaN, 0),
            fmt(r?.seconds ?? Number.NaN, 3),
            fmt(r?.perSecond ?? Number.NaN, 0),
            fmt((a?.perSecond ?? Number.NaN) / (r?.perSecond ?? Number.NaN), 2),
          ];
        }),
      ),
    );
    console.log("");
    console.log(
      `broadcast to ${USERS} users, batches of ${BATCH}: API ${fmt(api.perSecond, 0)} deliveries/s ` +
        `(${fmt(api.seconds, 3)} s), raw floor ${fmt(raw.perSecond, 0)} deliveries/s (${fmt(raw.seconds, 3)} s), ` +
        `ratio ${fmt(ratio, 2)} (target >= ${fmt(TARGET_RATIO, 2)}): ${ratio >= TARGET_RATIO ? "PASS" : "FAIL"}`,
    );
  } finally {
    await cleanup();
  }
}

await main();
