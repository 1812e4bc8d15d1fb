// Broadcasts end to end: a real server on a database of its own (so "everyone" means this file's
// users, and no other test file's server takes these jobs), a real SMTP server on 127.0.0.1, and
// fan-out in small batches (BROADCAST_BATCH_SIZE=7) so every audience spans several jobs.
import { SMTPServer } from "smtp-server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fanoutBatch } from "../src/features/broadcasts/broadcasts.ts";
import { signToken } from "../src/features/users/tokens.ts";
import {
  AddTargetForBroadcastDocument,
  BroadcastProgressDocument,
  BroadcastRecipientsDocument,
  BroadcastsDocument,
  CancelScheduledDocument,
  CreateTopicForBroadcastDocument,
  type DeliveryState,
  NotificationEventsForBroadcastDocument,
  SendBroadcastDocument,
  type SendBroadcastMutationVariables,
  SetNotificationPreferencesForBroadcastDocument,
  SubscribeToTopicForBroadcastDocument,
} from "./gql/graphql.ts";
import type { Client } from "./helpers/client.ts";
import { listenLocal } from "./helpers/listen.ts";
import {
  signUp,
  TEST_API_KEY,
  TEST_JWT_SECRET,
  type TestUser,
  uniqueName,
  useScratchDatabase,
  useServer,
} from "./helpers/server.ts";
import { useSql } from "./helpers/sql.ts";
import { countStatements } from "./helpers/statement-counter.ts";
import { subscribeWs, wsClient } from "./helpers/subscriptions.ts";
import { waitUntil } from "./helpers/wait.ts";

const BATCH = 7;
const LONG = 30_000;

/** A local SMTP server that accepts every mailbox except those in `refused` (451: try again later). */
async function startSmtp(refused: Set<string>) {
  const received: { to: string[]; subject: string }[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS"],
    logger: false,
    onRcptTo(address, _session, callback) {
      if (refused.has(address.address)) {
        callback(Object.assign(new Error("mailbox busy, try later"), { responseCode: 451 }));
      } else callback();
    },
    onData(stream, session, callback) {
      let text = "";
      stream.on("data", (chunk: Buffer) => {
        text += chunk.toString();
      });
      stream.on("end", () => {
        received.push({
          to: session.envelope.rcptTo.map((r) => r.address),
          subject: /^Subject: (.*)$/m.exec(text)?.[1]?.trim() ?? "",
        });
        callback();
      });
    },
  });
  const port = await listenLocal(server, () => server.server.address());
  return {
    url: `smtp://127.0.0.1:${port}`,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const db = useScratchDatabase("messaging_bc");
const refused = new Set<string>();
let smtp: Awaited<ReturnType<typeof startSmtp>>;
// Registered before the server: after-hooks run in reverse, so the SMTP server closes after it.
beforeAll(async () => {
  smtp = await startSmtp(refused);
});
afterAll(() => smtp?.close());
const server = useServer(() => ({
  DATABASE_URL: db.url,
  JOB_POLL_SECONDS: "0.5",
  JOB_RETRY_DELAY_SECONDS: "1",
  BROADCAST_BATCH_SIZE: String(BATCH),
  SMTP_URL: smtp.url,
  PROVIDER_TIMEOUT_MS: "5000",
}));
const sql = useSql(() => db.url);
let system: Client;
beforeAll(() => {
  system = server.client.as({ apiKey: TEST_API_KEY });
});

/** `n` users written with SQL (no password: they never sign in), ids returned in id order. */
async function sqlUsers(n: number, prefix = "bcs"): Promise<{ id: string; username: string }[]> {
  const tag = uniqueName(prefix);
  const rows = await sql.query<{ id: string; username: string }>(
    `INSERT INTO "User" (id, username, "usernameKey", "displayName", "updatedAt")
     SELECT gen_random_uuid(), $1 || '_' || i, lower($1 || '_' || i), 'Bulk ' || i, now()
     FROM generate_series(1, $2::int) AS i
     RETURNING id::text, username`,
    [tag, n],
  );
  return rows.sort((a, b) => (a.id < b.id ? -1 : 1));
}

async function addEmailTarget(userId: string, address: string) {
  await system.ok(AddTargetForBroadcastDocument, { userId, kind: "EMAIL", address });
}

/** A topic (through the API) with `subscribers` subscribed by the API key. */
async function createTopic(subscribers: readonly string[]) {
  const key = uniqueName("topic").toLowerCase();
  const { createTopic: topic } = await system.ok(CreateTopicForBroadcastDocument, {
    key,
    name: `Topic ${key}`,
  });
  for (const userId of subscribers)
    await system.ok(SubscribeToTopicForBroadcastDocument, { topic: key, userId });
  return { id: topic.id, key };
}

const broadcast = async (input: SendBroadcastMutationVariables["input"], client = system) =>
  (await client.ok(SendBroadcastDocument, { input })).broadcast;

const progress = async (id: string) => (await system.ok(BroadcastProgressDocument, { id })).broadcast;

async function completed(id: string) {
  await waitUntil(async () => (await progress(id))?.status === "COMPLETED", {
    what: `broadcast ${id} to complete`,
    timeoutMs: LONG,
  });
  const done = await progress(id);
  if (!done) throw new Error("broadcast vanished");
  return done;
}

/** Notifications of broadcast `id` per user: every recipient must have exactly one. */
async function notificationsPerUser(id: string) {
  const rows = await sql.query<{ userId: string; n: string }>(
    `SELECT "userId"::text AS "userId", count(*) AS n FROM "Notification" WHERE "broadcastId" = $1::uuid
     GROUP BY "userId"`,
    [id],
  );
  return new Map(rows.map((r) => [r.userId, Number(r.n)]));
}

async function allRecipients(id: string, state?: DeliveryState, first = 3) {
  const out: { userId: string; state: string; attempts: number; lastError: string | null }[] = [];
  let after: string | undefined;
  for (;;) {
    const data = await system.ok(BroadcastRecipientsDocument, { id, state, first, after });
    const page = data.broadcast?.recipients;
    if (!page) throw new Error("no broadcast");
    for (const r of page.nodes) {
      out.push({ userId: r.user.id, state: r.state, attempts: r.attempts, lastError: r.lastError ?? null });
    }
    if (!page.pageInfo.hasNextPage) return { nodes: out, totalCount: page.totalCount };
    after = page.pageInfo.endCursor ?? undefined;
  }
}

describe("broadcast: auth and input", () => {
  let user: TestUser;
  let admin: Client;

  beforeAll(async () => {
    user = await signUp(server, "bcu");
    const chief = await signUp(server, "bca");
    await sql.query(`UPDATE "User" SET role = 'ADMIN' WHERE id = $1::uuid`, [chief.id]);
    const token = await signToken(
      { id: chief.id, role: "ADMIN" },
      new TextEncoder().encode(TEST_JWT_SECRET),
      3600,
    );
    admin = server.client.as({ token });
  });

  it("needs the API key or an ADMIN: anonymous UNAUTHENTICATED, users FORBIDDEN", async () => {
    const input = { userIds: [user.id], title: "Hi", body: "there" };
    expect((await server.client.fail(SendBroadcastDocument, { input })).code).toBe("UNAUTHENTICATED");
    expect((await user.client.fail(SendBroadcastDocument, { input })).code).toBe("FORBIDDEN");
    const id = (await broadcast(input, admin)).id;
    expect((await user.client.fail(BroadcastProgressDocument, { id })).code).toBe("FORBIDDEN");
    expect((await server.client.fail(BroadcastProgressDocument, { id })).code).toBe("UNAUTHENTICATED");
    expect((await user.client.fail(BroadcastsDocument, { first: 5 })).code).toBe("FORBIDDEN");
    expect((await admin.ok(BroadcastProgressDocument, { id })).broadcast?.id).toBe(id);
    const list = await admin.ok(BroadcastsDocument, { first: 50 });
    expect(list.broadcasts.nodes.map((b) => b.id)).toContain(id);
    expect(list.broadcasts.totalCount).toBeGreaterThanOrEqual(1);
    await completed(id);
  });

  it("NOT_FOUND for an unknown or malformed id", async () => {
    const missing = "0190a000-0000-7000-8000-000000000000";
    expect((await system.fail(BroadcastProgressDocument, { id: missing })).code).toBe("NOT_FOUND");
    expect((await system.fail(BroadcastProgressDocument, { id: "nope" })).code).toBe("NOT_FOUND");
  });

  it("rejects bad input with BAD_USER_INPUT naming the field, and writes nothing", async () => {
    const before = await sql.count(`SELECT count(*) AS n FROM "Broadcast"`);
    const content = { title: "T", body: "B" };
    const future = new Date(Date.now() + 60_000).toISOString();
    const cases: [SendBroadcastMutationVariables["input"], string][] = [
      [content, "input"],
      [{ ...content, everyone: false }, "input"],
      [{ ...content, everyone: true, userIds: [user.id] }, "input"],
      [{ ...content, userIds: [] }, "userIds"],
      [{ ...content, topic: "no-such-topic" }, "topic"],
      [{ userIds: [user.id] }, "title"],
      [{ userIds: [user.id], title: "T" }, "body"],
      [{ userIds: [user.id], title: "  ", body: "B" }, "title"],
      [{ userIds: [user.id], template: "no_such_template" }, "template"],
      [{ userIds: [user.id], template: "order_shipped", data: { order_id: "1" } }, "data"],
      [{ userIds: [user.id], template: "welcome", data: { name: "x" }, title: "T" }, "title"],
      [{ userIds: [user.id], template: "welcome", data: [1, 2] }, "data"],
      [
        { ...content, userIds: [user.id], scheduledAt: new Date(Date.now() - 1000).toISOString() },
        "scheduledAt",
      ],
      [{ ...content, userIds: [user.id], actionUrl: "" }, "actionUrl"],
    ];
    for (const [input, field] of cases) {
      const failure = await system.fail(SendBroadcastDocument, { input });
      expect([JSON.stringify(input), failure.code, failure.field]).toEqual([
        JSON.stringify(input),
        "BAD_USER_INPUT",
        field,
      ]);
    }
    const unknown = await system.fail(SendBroadcastDocument, {
      input: { ...content, userIds: [user.username, "ghost_user_1", "ghost_user_2"], scheduledAt: future },
    });
    expect(unknown.code).toBe("BAD_USER_INPUT");
    expect(unknown.field).toBe("userIds");
    expect(unknown.error.message).toContain("ghost_user_1");
    expect(unknown.error.message).toContain("ghost_user_2");
    expect(unknown.error.message).not.toContain(user.username);
    expect(await sql.count(`SELECT count(*) AS n FROM "Broadcast"`)).toBe(before);
  });
});

describe("broadcast: audiences", () => {
  it("to a list of users (ids and usernames), in batches, once each", async () => {
    const users = await Promise.all(Array.from({ length: 4 }, () => signUp(server, "bcl")));
    const bulk = await sqlUsers(12);
    const refs = [
      ...users.map((u, i) => (i % 2 ? u.id : u.username)),
      ...bulk.map((u) => u.id),
      users[0]?.id ?? "",
    ];
    const b = await broadcast({ userIds: refs, title: "Maintenance", body: "Tonight at 10", kind: "ALERT" });
    expect(b).toMatchObject({ status: "QUEUED", audience: "USERS", kind: "ALERT", priority: "NORMAL" });
    const done = await completed(b.id);
    expect(done.total).toBe(16);
    expect(done.counts).toEqual({ queued: 0, sent: 16, failed: 0, retrying: 0, dead: 0, total: 16 });
    expect(done.startedAt).toBeTruthy();
    expect(done.completedAt).toBeTruthy();
    const per = await notificationsPerUser(b.id);
    expect(per.size).toBe(16);
    expect([...per.values()].every((n) => n === 1)).toBe(true);
    for (const u of [...users, ...bulk]) expect(per.get(u.id)).toBe(1);
    const types = await sql.query<{ type: string; status: string }>(
      `SELECT DISTINCT type, status::text FROM "Notification" WHERE "broadcastId" = $1::uuid`,
      [b.id],
    );
    expect(types).toEqual([{ type: "broadcast.alert", status: "DELIVERED" }]);
    // One notification.created per recipient, and the broadcast's own events once each.
    expect(
      await sql.count(
        `SELECT count(*) AS n FROM "Event" WHERE type = 'notification.created' AND payload->>'broadcastId' = $1`,
        [b.id],
      ),
    ).toBe(16);
    const own = await sql.query<{ type: string; payload: Record<string, unknown> }>(
      `SELECT type, payload FROM "Event" WHERE type LIKE 'broadcast.%' AND payload->>'broadcastId' = $1 ORDER BY id`,
      [b.id],
    );
    expect(own.map((e) => e.type)).toEqual(["broadcast.started", "broadcast.completed"]);
    expect(own[1]?.payload).toMatchObject({ sent: 16, total: 16, dead: 0 });
  });

  it("to a topic's subscribers, named by key or id", async () => {
    const members = await sqlUsers(10);
    const outsiders = await sqlUsers(3);
    const topic = await createTopic(members.map((m) => m.id));
    for (const ref of [topic.key, topic.id]) {
      const b = await broadcast({ topic: ref, title: "Topic news", body: "For subscribers" });
      expect(b).toMatchObject({ audience: "TOPIC", topicId: topic.id });
      const done = await completed(b.id);
      expect(done.total).toBe(10);
      const per = await notificationsPerUser(b.id);
      expect([...per.keys()].sort()).toEqual(members.map((m) => m.id));
      for (const o of outsiders) expect(per.has(o.id)).toBe(false);
    }
  });

  it("to everyone: every user of the database when fan-out starts, once", async () => {
    await sqlUsers(20);
    const users = await sql.count(`SELECT count(*) AS n FROM "User"`);
    const b = await broadcast({
      everyone: true,
      title: "Hello all",
      body: "Everyone",
      kind: "PROMOTION",
      priority: "LOW",
    });
    const done = await completed(b.id);
    expect(done.total).toBe(users);
    const per = await notificationsPerUser(b.id);
    expect(per.size).toBe(users);
    expect([...per.values()].every((n) => n === 1)).toBe(true);
    expect(
      await sql.count(
        `SELECT count(*) AS n FROM "User" u
         WHERE NOT EXISTS (SELECT 1 FROM "Notification" n WHERE n."userId" = u.id AND n."broadcastId" = $1::uuid)`,
        [b.id],
      ),
    ).toBe(0);
  });

  it("renders a template once, with its default priority", async () => {
    const [a, c] = await sqlUsers(2);
    const b = await broadcast({
      userIds: [a?.id ?? "", c?.id ?? ""],
      template: "payment_failed",
      data: { amount: "$9", description: "the Pro plan" },
      actionUrl: "https://example.com/billing",
    });
    expect(b).toMatchObject({
      template: "payment_failed",
      title: "Payment failed",
      body: "We could not charge $9 for the Pro plan. Please update your payment method.",
      priority: "HIGH",
      actionUrl: "https://example.com/billing",
      data: { amount: "$9", description: "the Pro plan" },
    });
    await completed(b.id);
    const rows = await sql.query(
      `SELECT title, body, priority::text, template, "actionUrl", data FROM "Notification" WHERE "broadcastId" = $1::uuid`,
      [b.id],
    );
    expect(rows).toHaveLength(2);
    for (const r of rows) {
      expect(r).toEqual({
        title: b.title,
        body: b.body,
        priority: "HIGH",
        template: "payment_failed",
        actionUrl: "https://example.com/billing",
        data: { amount: "$9", description: "the Pro plan" },
      });
    }
  });
});

describe("broadcast: delivery states", () => {
  it("email to a real SMTP server: a refused mailbox ends DEAD, the others SENT, and the broadcast COMPLETED", async () => {
    const withEmail = await sqlUsers(4, "bce");
    const inAppOnly = await sqlUsers(3, "bci");
    const bad = withEmail[2];
    if (!bad) throw new Error("no user");
    for (const u of withEmail) await addEmailTarget(u.id, `${u.username}@example.test`);
    refused.add(`${bad.username}@example.test`);
    const b = await broadcast({
      userIds: [...withEmail, ...inAppOnly].map((u) => u.id),
      title: "Weekly digest",
      body: "News of the week",
    });
    const done = await completed(b.id);
    expect(done.counts).toEqual({ queued: 0, sent: 6, failed: 0, retrying: 0, dead: 1, total: 7 });
    const delivered = smtp.received.filter((m) => m.subject === "Weekly digest").flatMap((m) => m.to);
    expect(delivered.sort()).toEqual(
      withEmail
        .filter((u) => u !== bad)
        .map((u) => `${u.username}@example.test`)
        .sort(),
    );
    const dead = await allRecipients(b.id, "DEAD");
    expect(dead.totalCount).toBe(1);
    expect(dead.nodes).toEqual([
      { userId: bad.id, state: "DEAD", attempts: 3, lastError: expect.stringContaining("451") },
    ]);
    const sent = await allRecipients(b.id, "SENT", 2);
    expect(sent.totalCount).toBe(6);
    expect(sent.nodes.map((n) => n.userId)).toEqual(
      [...withEmail, ...inAppOnly]
        .filter((u) => u !== bad)
        .map((u) => u.id)
        .sort(),
    );
    expect(
      sent.nodes.filter((n) => withEmail.some((u) => u.id === n.userId)).every((n) => n.attempts === 1),
    ).toBe(true);
    const completedEvents = await sql.query<{ payload: Record<string, unknown> }>(
      `SELECT payload FROM "Event" WHERE type = 'broadcast.completed' AND payload->>'broadcastId' = $1`,
      [b.id],
    );
    expect(completedEvents.map((r) => r.payload)).toEqual([
      expect.objectContaining({ sent: 6, dead: 1, queued: 0, retrying: 0, total: 7 }),
    ]);
  });

  it("a digest-only recipient is SENT at once (the digest does not hold the broadcast); URGENT bypasses it", async () => {
    const [digest, urgent] = await sqlUsers(2, "bcd");
    if (!digest || !urgent) throw new Error("no users");
    for (const u of [digest, urgent]) {
      await addEmailTarget(u.id, `${u.username}@example.test`);
      await system.ok(SetNotificationPreferencesForBroadcastDocument, {
        userId: u.id,
        route: "DAILY_DIGEST",
      });
    }
    const normal = await broadcast({ userIds: [digest.id], title: "Digest me", body: "later" });
    const done = await completed(normal.id);
    expect(done.counts).toMatchObject({ sent: 1, queued: 0, total: 1 });
    expect(
      await sql.count(`SELECT count(*) AS n FROM "Delivery" WHERE "broadcastId" = $1::uuid AND "viaDigest"`, [
        normal.id,
      ]),
    ).toBe(1);
    const loud = await broadcast({
      userIds: [urgent.id],
      title: "Urgent now",
      body: "now",
      priority: "URGENT",
    });
    expect((await completed(loud.id)).counts).toMatchObject({ sent: 1, total: 1 });
    await waitUntil(() => smtp.received.some((m) => m.subject === "Urgent now"), {
      what: "the urgent mail",
      timeoutMs: LONG,
    });
  });

  it("pages recipients by user id both ways, filters by state, and counts them", async () => {
    const users = await sqlUsers(9);
    const b = await broadcast({ userIds: users.map((u) => u.id), title: "Paging", body: "p" });
    await completed(b.id);
    const all = await allRecipients(b.id, undefined, 4);
    expect(all.totalCount).toBe(9);
    expect(all.nodes.map((n) => n.userId)).toEqual(users.map((u) => u.id));
    const first = await system.ok(BroadcastRecipientsDocument, { id: b.id, first: 4 });
    const page = first.broadcast?.recipients;
    expect(page?.nodes).toHaveLength(4);
    expect(page?.edges.map((e) => e.cursor)).toEqual(users.slice(0, 4).map((u) => u.id));
    expect(page?.nodes[0]?.notification).toMatchObject({ type: "broadcast.announcement", title: "Paging" });
    const back = await system.ok(BroadcastRecipientsDocument, { id: b.id, last: 3, before: users[5]?.id });
    expect(back.broadcast?.recipients.nodes.map((n) => n.user.id)).toEqual(
      users.slice(2, 5).map((u) => u.id),
    );
    expect(back.broadcast?.recipients.pageInfo.hasPreviousPage).toBe(true);
    const none = await system.ok(BroadcastRecipientsDocument, { id: b.id, state: "QUEUED", first: 5 });
    expect(none.broadcast?.recipients).toMatchObject({ totalCount: 0, nodes: [] });
    // A page's users and notifications load in one query each (Prisma batches findUnique), not per row.
    const { log } = await countStatements(() =>
      system.ok(BroadcastRecipientsDocument, { id: b.id, first: 9 }),
    );
    const reads = (table: string) =>
      log.statements.filter((q) => q.startsWith(`SELECT "public"."${table}".`)).length;
    expect([reads("User"), reads("Notification")]).toEqual([1, 1]);
    const bad = await system.fail(BroadcastRecipientsDocument, { id: b.id, first: 2, after: "not-a-cursor" });
    expect([bad.code, bad.field]).toEqual(["BAD_USER_INPUT", "after"]);
  });

  it("duplicate fan-out jobs never add a recipient twice", async () => {
    const users = await sqlUsers(40);
    const b = await broadcast({ userIds: users.map((u) => u.id), title: "Dupes", body: "d" });
    // Ten extra runs of the job at once, racing the real chain: the row lock + cursor serialize them.
    await Promise.all(Array.from({ length: 10 }, () => fanoutBatch(server.app.services, b.id)));
    const done = await completed(b.id);
    expect(done.total).toBe(40);
    const per = await notificationsPerUser(b.id);
    expect(per.size).toBe(40);
    expect([...per.values()].every((n) => n === 1)).toBe(true);
    expect(
      await sql.count(`SELECT count(*) AS n FROM "BroadcastRecipient" WHERE "broadcastId" = $1::uuid`, [
        b.id,
      ]),
    ).toBe(40);
    // And runs after completion change nothing.
    await fanoutBatch(server.app.services, b.id);
    expect((await notificationsPerUser(b.id)).size).toBe(40);
  });
});

describe("broadcast: live and scheduled", () => {
  it("notificationEvents streams the broadcast's notification to its recipient", async () => {
    const viewer = await signUp(server, "bcv");
    const hub = server.app.services.hub;
    const listening = hub.size;
    const ws = wsClient(server.url, viewer.token);
    try {
      const sub = subscribeWs(ws, NotificationEventsForBroadcastDocument, {});
      await waitUntil(() => hub.size > listening || sub.completed, { what: "the subscription to listen" });
      const b = await broadcast({ userIds: [viewer.id], title: "Live one", body: "now" });
      const [event] = await sub.waitFor(1, LONG);
      expect(event?.notificationEvents.notification).toMatchObject({
        type: "broadcast.announcement",
        title: "Live one",
        body: "now",
      });
      const per = await notificationsPerUser(b.id);
      expect(per.get(viewer.id)).toBe(1);
      sub.unsubscribe();
    } finally {
      await ws.dispose();
    }
  });

  it("a scheduled broadcast waits, then fires", async () => {
    const [u] = await sqlUsers(1);
    const scheduledAt = new Date(Date.now() + 1500);
    const b = await broadcast({
      userIds: [u?.id ?? ""],
      title: "Later",
      body: "l",
      scheduledAt: scheduledAt.toISOString(),
    });
    expect(b.status).toBe("SCHEDULED");
    expect(new Date(b.scheduledAt ?? 0).getTime()).toBe(scheduledAt.getTime());
    expect(
      await sql.count(`SELECT count(*) AS n FROM "Notification" WHERE "broadcastId" = $1::uuid`, [b.id]),
    ).toBe(0);
    const done = await completed(b.id);
    expect(done.total).toBe(1);
    expect(new Date(done.startedAt ?? 0).getTime()).toBeGreaterThanOrEqual(scheduledAt.getTime());
    expect((await system.fail(CancelScheduledDocument, { id: b.id })).code).toBe("CONFLICT");
  });

  it("a cancelled scheduled broadcast does not fire", async () => {
    const [u] = await sqlUsers(1);
    const b = await broadcast({
      userIds: [u?.id ?? ""],
      title: "Never",
      body: "n",
      scheduledAt: new Date(Date.now() + 1500).toISOString(),
    });
    expect((await system.ok(CancelScheduledDocument, { id: b.id })).cancelScheduled).toBe(true);
    // The fire job runs (and finds the broadcast cancelled): wait for pg-boss to record it done.
    await waitUntil(
      async () =>
        (await sql.count(
          `SELECT count(*) AS n FROM pgboss.job WHERE name = 'broadcast.fire' AND data->>'broadcastId' = $1
             AND state = 'completed'`,
          [b.id],
        )) === 1,
      { what: "the fire job to complete", timeoutMs: LONG },
    );
    expect((await progress(b.id))?.status).toBe("CANCELLED");
    expect(
      await sql.count(`SELECT count(*) AS n FROM "Notification" WHERE "broadcastId" = $1::uuid`, [b.id]),
    ).toBe(0);
    expect(
      await sql.count(`SELECT count(*) AS n FROM "BroadcastRecipient" WHERE "broadcastId" = $1::uuid`, [
        b.id,
      ]),
    ).toBe(0);
  });
});
