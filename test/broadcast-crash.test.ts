// Crash safety of broadcast fan-out: the server runs as its own process on a database of its own,
// is SIGKILLed in the middle of a fan-out (some recipients written, not all), and a new process on
// the same database finishes it. Every recipient ends with exactly one notification and one event.
import { afterAll, expect, it } from "vitest";
import { BroadcastProgressDocument, SendBroadcastDocument } from "./gql/graphql.ts";
import { Client } from "./helpers/client.ts";
import { killAll, type ServerProc, startServerProcess } from "./helpers/processes.ts";
import { TEST_API_KEY, TEST_JWT_SECRET, uniqueName, useScratchDatabase } from "./helpers/server.ts";
import { useSql } from "./helpers/sql.ts";
import { waitUntil } from "./helpers/wait.ts";

const AUDIENCE = 2_000;
const BATCH = 50;

const db = useScratchDatabase("messaging_bccrash");
const sql = useSql(() => db.url);
afterAll(() => killAll());

const env = () => ({
  DATABASE_URL: db.url,
  API_KEY: TEST_API_KEY,
  JWT_SECRET: TEST_JWT_SECRET,
  BROADCAST_BATCH_SIZE: String(BATCH),
  JOB_POLL_SECONDS: "0.5",
  JOB_RETRY_DELAY_SECONDS: "1",
});

it("SIGKILL mid-fan-out, restart: every recipient gets exactly one notification", {
  timeout: 120_000,
}, async () => {
  let proc: ServerProc = await startServerProcess(env()); // migrates the fresh database
  // The audience: a topic with AUDIENCE subscribers, written with SQL for speed.
  const tag = uniqueName("bck");
  const rows = await sql.query<{ id: string }>(
    `INSERT INTO "Topic" (id, key, name) VALUES (gen_random_uuid(), $1, $1) RETURNING id::text`,
    [tag],
  );
  const topicId = rows[0]?.id ?? "";
  await sql.query(
    `WITH u AS (
       INSERT INTO "User" (id, username, "usernameKey", "displayName", "updatedAt")
       SELECT gen_random_uuid(), $1 || '_' || i, lower($1 || '_' || i), 'Crash ' || i, now()
       FROM generate_series(1, $2::int) AS i
       RETURNING id)
     INSERT INTO "TopicSubscription" ("topicId", "userId") SELECT $3::uuid, id FROM u`,
    [tag, AUDIENCE, topicId],
  );

  const system = new Client(proc.url, { apiKey: TEST_API_KEY });
  const { broadcast } = await system.ok(SendBroadcastDocument, {
    input: { topic: tag, title: "Crash test", body: "exactly once" },
  });
  const recipients = () =>
    sql.count(`SELECT count(*) AS n FROM "BroadcastRecipient" WHERE "broadcastId" = $1::uuid`, [
      broadcast.id,
    ]);
  await waitUntil(async () => (await recipients()) > 0, {
    what: "the first recipients",
    timeoutMs: 30_000,
    everyMs: 5,
  });
  await proc.kill();
  const atKill = await recipients();
  console.log(`recipients at SIGKILL: ${atKill} of ${AUDIENCE}`);
  expect(atKill).toBeGreaterThan(0);
  expect(atKill).toBeLessThan(AUDIENCE);
  const [state] = await sql.query<{ status: string; fanoutDone: boolean }>(
    `SELECT status::text, "fanoutDone" FROM "Broadcast" WHERE id = $1::uuid`,
    [broadcast.id],
  );
  expect(state).toEqual({ status: "SENDING", fanoutDone: false });

  // A new process on the same database resumes at start-up, well before the killed job's 60 s expiry.
  proc = await startServerProcess(env());
  const again = new Client(proc.url, { apiKey: TEST_API_KEY });
  await waitUntil(
    async () =>
      (await again.ok(BroadcastProgressDocument, { id: broadcast.id })).broadcast?.status === "COMPLETED",
    { what: "the broadcast to complete after the restart", timeoutMs: 45_000, everyMs: 100 },
  );
  const done = (await again.ok(BroadcastProgressDocument, { id: broadcast.id })).broadcast;
  expect(done?.total).toBe(AUDIENCE);
  expect(done?.counts).toMatchObject({ sent: AUDIENCE, total: AUDIENCE, queued: 0 });
  expect(await recipients()).toBe(AUDIENCE);
  const duplicates = await sql.query(
    `SELECT "userId" FROM "Notification" WHERE "broadcastId" = $1::uuid GROUP BY "userId" HAVING count(*) > 1`,
    [broadcast.id],
  );
  expect(duplicates).toEqual([]);
  expect(
    await sql.count(`SELECT count(*) AS n FROM "Notification" WHERE "broadcastId" = $1::uuid`, [
      broadcast.id,
    ]),
  ).toBe(AUDIENCE);
  expect(
    await sql.count(
      `SELECT count(*) AS n FROM "Event" WHERE type = 'notification.created' AND payload->>'broadcastId' = $1`,
      [broadcast.id],
    ),
  ).toBe(AUDIENCE);
  expect(
    await sql.count(
      `SELECT count(*) AS n FROM "Event" WHERE type = 'broadcast.completed' AND payload->>'broadcastId' = $1`,
      [broadcast.id],
    ),
  ).toBe(1);
  // Every subscriber is a recipient (none skipped over by the crash).
  expect(
    await sql.count(
      `SELECT count(*) AS n FROM "TopicSubscription" s WHERE s."topicId" = $1::uuid AND NOT EXISTS (
         SELECT 1 FROM "BroadcastRecipient" r WHERE r."broadcastId" = $2::uuid AND r."userId" = s."userId")`,
      [topicId, broadcast.id],
    ),
  ).toBe(0);
  await proc.kill();
});
