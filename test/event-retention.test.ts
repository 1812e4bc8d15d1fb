// Event-log retention: the scheduled `events.prune` job (pg-boss) deletes events older than
// EVENT_RETENTION_DAYS in batches, each its own short transaction, and a subscription resuming from
// a pruned cursor answers CURSOR_EXPIRED. Pruning deletes every old event of a database, so this
// runs on a scratch database of its own (never the run's shared one). Events are aged by moving
// their createdAt back 40 days with SQL: the only way to have month-old events in a test.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase } from "../src/core/db.ts";
import { applyMigrations } from "../src/core/migrations.ts";
import { pruneEvents } from "../src/events/log.ts";
import {
  MessageEventsForFaultsDocument,
  type MessageEventsForFaultsSubscription,
  SendMessageForFaultsDocument,
  type SendMessageForFaultsMutation,
} from "./gql/graphql.ts";
import { endError } from "./helpers/realtime.ts";
import { createScratchDatabase, type ScratchDatabase } from "./helpers/scratch-database.ts";
import { signUp, startServer, type TestServer } from "./helpers/server.ts";
import { type Subscription, subscribeSse, subscribeWs, wsClient } from "./helpers/subscriptions.ts";
import { waitUntil } from "./helpers/wait.ts";

let db: ScratchDatabase;
let sql: pg.Pool;
beforeAll(async () => {
  db = await createScratchDatabase("retention");
  await applyMigrations(db.url);
  sql = new pg.Pool({ connectionString: db.url, max: 2 });
});
afterAll(async () => {
  await sql?.end();
  await db?.drop();
});

const count = async (text: string, params: unknown[] = []) =>
  Number((await sql.query<{ n: string }>(text, params)).rows[0]?.n ?? -1);

/** A counter's value on the instance's /metrics. */
async function metric(server: TestServer, name: string): Promise<number> {
  const text = await (await fetch(server.url.replace(/\/graphql$/, "/metrics"))).text();
  return Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1] ?? Number.NaN);
}

type Sent = SendMessageForFaultsMutation["sendMessage"];
type Events = Subscription<MessageEventsForFaultsSubscription>;

describe("the scheduled retention job", () => {
  it("prunes old events in batches at start; resuming from before the pruned point is CURSOR_EXPIRED", async () => {
    // 1. History, written by an instance that does not prune (EVENT_RETENTION_DAYS=0).
    const writer = await startServer({ DATABASE_URL: db.url, EVENT_RETENTION_DAYS: "0" });
    let cursors: string[];
    let sent: Sent[];
    let bobToken: string;
    let conversationId: string;
    try {
      const [alice, bob] = [await signUp(writer, "ret"), await signUp(writer, "ret")];
      bobToken = bob.token;
      const opening = (
        await alice.client.ok(SendMessageForFaultsDocument, { to: bob.id, content: "opening" })
      ).sendMessage;
      conversationId = opening.conversation.id;
      const hub = writer.app.services.hub;
      const before = hub.size;
      const ws = wsClient(writer.url, bob.token);
      const sub: Events = subscribeWs(ws, MessageEventsForFaultsDocument, { conversationId });
      await waitUntil(() => hub.size > before || sub.completed, { what: "bob's subscription to listen" });
      sent = [];
      for (let i = 0; i < 30; i++) {
        sent.push(
          (await alice.client.ok(SendMessageForFaultsDocument, { conversationId, content: `m${i}` }))
            .sendMessage,
        );
      }
      await sub.waitFor(30);
      cursors = sub.values.map((v) => v.messageEvents.cursor);
      expect(sub.values.map((v) => v.messageEvents.message.id)).toEqual(sent.map((m) => m.id));
      await ws.dispose();
    } finally {
      await writer.stop();
    }

    // 2. Everything up to and including message m26 is 40 days old; m27..m29 are recent.
    const [last] = (
      await sql.query<{ txid: string; id: string }>(
        `SELECT txid::text, id::text FROM "Event" WHERE "messageId" = $1::uuid`,
        [sent[26]?.id],
      )
    ).rows;
    await sql.query(
      `UPDATE "Event" SET "createdAt" = "createdAt" - interval '40 days' WHERE (txid, id) <= ($1::bigint, $2::bigint)`,
      [last?.txid, last?.id],
    );
    const old = await count(
      `SELECT count(*) AS n FROM "Event" WHERE "createdAt" < now() - interval '30 days'`,
    );
    const total = await count(`SELECT count(*) AS n FROM "Event"`);
    expect(old).toBeGreaterThan(30); // the first send's conversation and member events, m0..m26
    expect(total - old).toBe(3);

    // 3. An instance with the default 30 days starts: its retention job runs, 10 events per batch.
    const server = await startServer({ DATABASE_URL: db.url, EVENT_RETENTION_BATCH_SIZE: "10" });
    try {
      await waitUntil(async () => (await metric(server, "events_pruned_total")) >= old, {
        what: "the job to prune",
        timeoutMs: 20_000,
        everyMs: 100,
      });
      expect(await metric(server, "events_pruned_total")).toBe(old);
      expect(await metric(server, "event_prune_batches_total")).toBe(Math.ceil(old / 10));
      const left = (
        await sql.query<{ messageId: string | null }>(`SELECT "messageId" FROM "Event" ORDER BY txid, id`)
      ).rows.map((r) => r.messageId);
      expect(left).toEqual(sent.slice(27).map((m) => m.id));
      expect(
        (
          await sql.query(
            `SELECT "prunedBeforeTxid"::text AS txid, "prunedBeforeId"::text AS id FROM "EventLogState"`,
          )
        ).rows,
      ).toEqual([{ txid: last?.txid, id: last?.id }]);

      // 4. Resuming from before the pruned point: CURSOR_EXPIRED, over graphql-ws and SSE.
      const ws = wsClient(server.url, bobToken);
      try {
        for (const sub of [
          subscribeWs(ws, MessageEventsForFaultsDocument, { conversationId, after: cursors[0] }),
          subscribeSse(server.url, bobToken, MessageEventsForFaultsDocument, {
            conversationId,
            after: cursors[25],
          }),
        ] as Subscription<unknown>[]) {
          const error = await endError(sub);
          expect(error?.code).toBe("BAD_USER_INPUT");
          expect(error?.extensions).toMatchObject({ reason: "CURSOR_EXPIRED", field: "after" });
          expect(sub.values).toEqual([]);
        }
        // From the last pruned event on, the retained rest replays exactly.
        const resumed: Events = subscribeWs(ws, MessageEventsForFaultsDocument, {
          conversationId,
          after: cursors[26],
        });
        await resumed.waitFor(3);
        expect(resumed.values.map((v) => v.messageEvents.message.id)).toEqual(
          sent.slice(27).map((m) => m.id),
        );
        resumed.unsubscribe();
      } finally {
        await ws.dispose();
      }
    } finally {
      await server.stop();
    }
  });
});

describe("pruneEvents", () => {
  it("commits each batch on its own before the next (other sessions see each batch gone)", async () => {
    // A database of its own, holding 23 old events appended by a registered writer.
    const own = await createScratchDatabase("retention_batches");
    const database = await openDatabase({ databaseUrl: own.url, dataDir: "", log: () => {} });
    const other = new pg.Client({ connectionString: own.url });
    await other.connect();
    try {
      await other.query("BEGIN");
      await other.query("SELECT event_log_register()");
      await other.query(
        `INSERT INTO "Event" (type, "userId", payload, "createdAt")
         SELECT 'notification.read', gen_random_uuid(), '{}', now() - interval '40 days' FROM generate_series(1, 23)`,
      );
      await other.query("COMMIT");
      const left = async () => Number((await other.query(`SELECT count(*) AS n FROM "Event"`)).rows[0]?.n);
      expect(await left()).toBe(23);
      const seen: { deleted: number; leftOutside: number }[] = [];
      const deleted = await pruneEvents(database.prisma, new Date(Date.now() - 30 * 86_400_000), {
        batchSize: 7,
        onBatch: async (n) => {
          seen.push({ deleted: n, leftOutside: await left() });
        },
      });
      expect(deleted).toBe(23);
      // 7 + 7 + 7 + 2, and after each batch another session already saw those rows gone.
      expect(seen).toEqual([
        { deleted: 7, leftOutside: 16 },
        { deleted: 7, leftOutside: 9 },
        { deleted: 7, leftOutside: 2 },
        { deleted: 2, leftOutside: 0 },
      ]);
    } finally {
      await other.end();
      await database.close();
      await own.drop();
    }
  });
});
