// The event log's horizon (how far readers may read without an older event committing behind them)
// depends only on this database's writers to the log: a long transaction in another database of the
// same PostgreSQL server, or one in this database that writes no events, must not hold delivery
// back. Registered writers still hold it (that is what keeps cursors gap-free), and nothing can
// append to the log without registering.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, describe, expect, inject, it } from "vitest";
import { openDatabase } from "../src/core/db.ts";
import { headPosition, readEvents } from "../src/events/log.ts";
import {
  MessageEventsForFaultsDocument,
  type MessageEventsForFaultsSubscription,
  SendMessageForFaultsDocument,
} from "./gql/graphql.ts";
import { signUp, type TestUser, useScratchDatabase, useServer } from "./helpers/server.ts";
import { type Subscription, subscribeWs, wsClient } from "./helpers/subscriptions.ts";
import { waitUntil } from "./helpers/wait.ts";

/** How long the unrelated transactions stay open: far longer than a delivery takes. */
const HOLD_MS = 6_000;

// No Redis and a slow poll: one instance, woken by its own commits.
const server = useServer({ EVENT_POLL_MS: "60000" });
const other = useScratchDatabase("horizon_other");

/** A transaction that has a transaction id (so it is in every snapshot's running list) and stays open. */
async function openTransaction(url: string) {
  const client = new pg.Client({ connectionString: url });
  client.on("error", () => {});
  await client.connect();
  await client.query("BEGIN");
  const [row] = (await client.query<{ txid: string }>("SELECT pg_current_xact_id()::text AS txid")).rows;
  let open = true;
  return {
    txid: BigInt(row?.txid ?? "0"),
    client,
    get open() {
      return open;
    },
    async commit() {
      open = false;
      await client.query("COMMIT");
      await client.end();
    },
  };
}

type Events = Subscription<MessageEventsForFaultsSubscription>;

/** bob subscribes to the conversation over graphql-ws; resolves once the server listens for him. */
async function subscribe(bob: TestUser, conversationId: string) {
  const hub = server.app.services.hub;
  const before = hub.size;
  const ws = wsClient(server.url, bob.token);
  const sub: Events = subscribeWs(ws, MessageEventsForFaultsDocument, { conversationId });
  await waitUntil(() => hub.size > before || sub.completed, { what: "the subscription to listen" });
  return { ws, sub };
}

/**
 * Sends while `holder` is open and reports whether the subscriber received the message while the
 * holder was still open (checked every 10 ms, so "open when seen" implies "open when received").
 */
async function deliveredWhileOpen(holder: Awaited<ReturnType<typeof openTransaction>>) {
  const [alice, bob] = [await signUp(server, "hz"), await signUp(server, "hz")];
  const opening = (await alice.client.ok(SendMessageForFaultsDocument, { to: bob.id, content: "opening" }))
    .sendMessage;
  const conversationId = opening.conversation.id;
  const { ws, sub } = await subscribe(bob, conversationId);
  const release = new Promise((resolve) => setTimeout(resolve, HOLD_MS)).then(() => holder.commit());
  try {
    const sent = (
      await alice.client.ok(SendMessageForFaultsDocument, { conversationId, content: "while held" })
    ).sendMessage;
    let openWhenSeen: boolean | undefined;
    await waitUntil(
      () => {
        if (!sub.values.some((v) => v.messageEvents.message.id === sent.id)) return false;
        openWhenSeen = holder.open;
        return true;
      },
      { what: "the message on the subscription", timeoutMs: HOLD_MS + 10_000, everyMs: 10 },
    );
    return openWhenSeen;
  } finally {
    await release;
    await ws.dispose();
  }
}

describe("the log horizon ignores transactions that do not write to this database's log", () => {
  it("a long transaction in ANOTHER database of the server does not delay delivery", async () => {
    const holder = await openTransaction(other.url);
    expect(await deliveredWhileOpen(holder)).toBe(true);
  });

  it("a long transaction in THIS database that writes no events does not delay delivery", async () => {
    const holder = await openTransaction(inject("databaseUrl"));
    // It writes, just not to the log.
    await holder.client.query(
      `CREATE TEMP TABLE horizon_scratch (x int); INSERT INTO horizon_scratch VALUES (1)`,
    );
    expect(await deliveredWhileOpen(holder)).toBe(true);
  });
});

describe("registered writers hold the horizon; nothing else can append", () => {
  it("a registered writer's open transaction keeps the head below it until it commits, then its event reads in order", async () => {
    const prisma = server.app.services.prisma;
    const [alice, bob] = [await signUp(server, "hz"), await signUp(server, "hz")];
    const writer = await openTransaction(inject("databaseUrl"));
    try {
      // Registering after the transaction has an id is refused: a reader may already have passed it.
      await expect(writer.client.query("SELECT event_log_register()")).rejects.toThrow(/register/);
    } finally {
      await writer.client.query("ROLLBACK").catch(() => {});
      await writer.client.end();
    }

    const client = new pg.Client({ connectionString: inject("databaseUrl") });
    await client.connect();
    try {
      await client.query("BEGIN");
      await client.query("SELECT event_log_register()");
      const [w] = (await client.query<{ txid: string }>("SELECT pg_current_xact_id()::text AS txid")).rows;
      const txid = BigInt(w?.txid ?? "0");
      const [mine] = (
        await client.query<{ id: string }>(
          `INSERT INTO "Event" (type, "userId", payload) VALUES ('notification.read', $1, '{}') RETURNING id::text AS id`,
          [bob.id],
        )
      ).rows;
      // A later transaction commits an event above the open writer.
      const later = (await alice.client.ok(SendMessageForFaultsDocument, { to: bob.id, content: "later" }))
        .sendMessage;
      const head = await headPosition(prisma);
      expect(head.txid).toBeLessThanOrEqual(txid);
      const before = await readEvents(prisma, { txid: txid - 1n, id: 0n }, 100, { userId: bob.id });
      expect(before).toEqual([]);

      await client.query("COMMIT");
      const after = await readEvents(prisma, { txid: txid - 1n, id: 0n }, 100, {
        userId: bob.id,
        conversationIds: [later.conversation.id],
      });
      // The writer's event first (lower txid), then the later send's events.
      expect(after[0]).toMatchObject({ txid, id: BigInt(mine?.id ?? "0"), type: "notification.read" });
      expect(after.map((e) => e.messageId)).toContain(later.id);
    } finally {
      await client.query("ROLLBACK").catch(() => {});
      await client.end();
    }
  });

  it("a writer whose session dies stops holding the horizon; app sessions end idle transactions", async () => {
    const prisma = server.app.services.prisma;
    const writer = new pg.Client({ connectionString: inject("databaseUrl") });
    writer.on("error", () => {});
    await writer.connect();
    await writer.query("BEGIN");
    await writer.query("SELECT event_log_register()");
    const [row] = (
      await writer.query<{ txid: string; pid: number }>(
        "SELECT pg_current_xact_id()::text AS txid, pg_backend_pid() AS pid",
      )
    ).rows;
    const txid = BigInt(row?.txid ?? "0");
    expect((await headPosition(prisma)).txid).toBeLessThanOrEqual(txid);
    // The writer's session dies (as its process would): this one backend, by its pid.
    await prisma.$queryRaw`SELECT pg_terminate_backend(${row?.pid}::int)`;
    await waitUntil(async () => (await headPosition(prisma)).txid > txid, {
      what: "the head to pass the dead writer",
    });
    await writer.end().catch(() => {});
    // A writer that stays idle in its transaction is ended by the server after this long.
    const [setting] = await prisma.$queryRaw<{ value: string }[]>`
      SELECT current_setting('idle_in_transaction_session_timeout') AS value`;
    expect(setting?.value).toBe("30s");
  });

  it("the horizon is only read where the reading statement comes after it (READ COMMITTED)", async () => {
    const client = new pg.Client({ connectionString: inject("databaseUrl") });
    await client.connect();
    try {
      await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ");
      await expect(client.query("SELECT event_log_horizon()")).rejects.toThrow(/READ COMMITTED/);
      await client.query("ROLLBACK");
      const [row] = (await client.query<{ h: string }>("SELECT event_log_horizon()::text AS h")).rows;
      expect(BigInt(row?.h ?? "0")).toBeGreaterThan(0n);
    } finally {
      await client.end();
    }
  });

  it("an INSERT into Event without registering is refused", async () => {
    const client = new pg.Client({ connectionString: inject("databaseUrl") });
    await client.connect();
    try {
      await expect(
        client.query(`INSERT INTO "Event" (type, payload) VALUES ('notification.read', '{}')`),
      ).rejects.toThrow(/event_log_register/);
    } finally {
      await client.end();
    }
  });

  it("exposes the horizon lag on /metrics", async () => {
    const holder = new pg.Client({ connectionString: inject("databaseUrl") });
    await holder.connect();
    try {
      await holder.query("BEGIN");
      await holder.query("SELECT event_log_register()");
      await holder.query("SELECT pg_current_xact_id()");
      const metricsUrl = server.url.replace(/\/graphql$/, "/metrics");
      let text = "";
      await waitUntil(
        async () => {
          text = await (await fetch(metricsUrl)).text();
          const age = /^event_log_oldest_writer_seconds (\S+)$/m.exec(text)?.[1];
          return age !== undefined && Number(age) > 0;
        },
        { what: "a writer's age on /metrics", timeoutMs: 10_000, everyMs: 200 },
      );
      expect(text).toMatch(/^event_log_horizon_lag_transactions \d+$/m);
    } finally {
      await holder.query("ROLLBACK").catch(() => {});
      await holder.end();
    }
  });
});

describe("on the embedded database (PGlite, one connection)", () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "messaging-horizon-"));
  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it("registers, appends, reads up to the head, and refuses unregistered appends", async () => {
    const db = await openDatabase({ dataDir, log: () => {} });
    try {
      const id = await db.prisma.$transaction(async (tx) => {
        await tx.$executeRaw`SELECT event_log_register()`;
        const [row] = await tx.$queryRaw<{ id: bigint }[]>`
          INSERT INTO "Event" (type, payload) VALUES ('notification.read', '{}') RETURNING id`;
        return row?.id;
      });
      const head = await headPosition(db.prisma);
      const events = await readEvents(db.prisma, { txid: 0n, id: 0n }, 10);
      expect(events.map((e) => e.id)).toEqual([id]);
      expect(head.txid).toBeGreaterThan(events[0]?.txid ?? 0n);
      await expect(
        db.prisma.$executeRaw`INSERT INTO "Event" (type, payload) VALUES ('notification.read', '{}')`,
      ).rejects.toThrow(/event_log_register/);
    } finally {
      await db.close();
    }
  });
});
