// Smoke test of the embedded path (no DATABASE_URL): PGlite under a temporary data directory, first
// the database alone, then the whole app (HTTP, graphql-ws, in-process pub/sub, send_message on PGlite).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, expect, test } from "vitest";
import { buildApp } from "../src/app/app.ts";
import { loadConfig } from "../src/core/config.ts";
import { openDatabase } from "../src/core/db.ts";
import { readMigrations } from "../src/core/migrations.ts";
import {
  BroadcastProgressDocument,
  type BroadcastProgressQuery,
  ChatForFaultsDocument,
  MessageEventsForFaultsDocument,
  NotificationsDocument,
  SendBroadcastDocument,
  SendMessageForFaultsDocument,
  SendNotificationDocument,
} from "./gql/graphql.ts";
import { Client } from "./helpers/client.ts";
import { signUp, TEST_API_KEY, TEST_JWT_SECRET } from "./helpers/server.ts";
import { subscribeWs, wsClient } from "./helpers/subscriptions.ts";
import { waitUntil } from "./helpers/wait.ts";

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "messaging-embedded-"));
const appDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "messaging-embedded-app-"));
afterAll(() => {
  fs.rmSync(dataDir, { recursive: true, force: true });
  fs.rmSync(appDataDir, { recursive: true, force: true });
});

test("PGlite: migrates, stores, survives a reopen, and locks its data directory", async () => {
  const first = await openDatabase({ dataDir, log: () => {} });
  let userId: string;
  try {
    expect(first.kind).toBe("pglite");
    const applied = await first.prisma.$queryRaw<{ migration_name: string; checksum: string }[]>`
      SELECT migration_name, checksum FROM "_prisma_migrations" WHERE finished_at IS NOT NULL ORDER BY migration_name`;
    expect(applied).toEqual(readMigrations().map((m) => ({ migration_name: m.name, checksum: m.checksum })));

    const user = await first.prisma.user.create({
      data: { username: "alice", usernameKey: "alice", displayName: "Alice" },
    });
    userId = user.id;
    // Interactive transactions work on the single connection as long as only `tx` is used inside.
    const found = await first.prisma.$transaction(async (tx) =>
      tx.user.findUnique({ where: { id: user.id } }),
    );
    expect(found?.username).toBe("alice");

    // A second opener of the same directory gets a clear error instead of a second writer.
    await expect(openDatabase({ dataDir, log: () => {} })).rejects.toThrow(/is in use by another process/);
  } finally {
    await first.close();
  }

  const second = await openDatabase({ dataDir, log: () => {} });
  try {
    const again = await second.prisma.user.findUnique({ where: { id: userId } });
    expect(again?.displayName).toBe("Alice");
  } finally {
    await second.close();
  }
});

test("embedded app: sign up, send, read back, and receive live over graphql-ws", async () => {
  const app = await buildApp(
    loadConfig({ NODE_ENV: "test", DATA_DIR: appDataDir, JWT_SECRET: TEST_JWT_SECRET }),
  );
  const ws: { dispose(): void | Promise<void> }[] = [];
  try {
    expect(app.db.kind).toBe("pglite");
    expect(app.services.pubsub.kind).toBe("local");
    const url = await app.start(0, "127.0.0.1");
    const server = { app, url, client: new Client(url), stop: () => app.stop() };
    const [alice, bob] = [await signUp(server, "emb"), await signUp(server, "emb")];

    const first = (
      await alice.client.ok(SendMessageForFaultsDocument, { to: bob.username, content: "hello embedded" })
    ).sendMessage;
    const second = (await alice.client.ok(SendMessageForFaultsDocument, { to: bob.id, content: "second" }))
      .sendMessage;
    expect([first.seq, second.seq]).toEqual([1, 2]);
    expect(second.conversation.id).toBe(first.conversation.id);
    const conversationId = first.conversation.id;

    const { chat } = await bob.client.ok(ChatForFaultsDocument, { with: alice.username, first: 10 });
    expect(chat.totalCount).toBe(2);
    expect(chat.nodes.map((n) => [n.seq, n.content, n.sender?.id])).toEqual([
      [2, "second", alice.id],
      [1, "hello embedded", alice.id],
    ]);

    // Live: bob subscribes, and once his stream listens, alice's next message reaches him.
    const hub = app.services.hub;
    const before = hub.size;
    const client = wsClient(url, bob.token);
    ws.push(client);
    const sub = subscribeWs(client, MessageEventsForFaultsDocument, {});
    await waitUntil(() => hub.size > before || sub.completed, { what: "bob's stream to listen" });
    expect(sub.completed).toBe(false);
    const third = (
      await alice.client.ok(SendMessageForFaultsDocument, { conversationId, content: "live one" })
    ).sendMessage;
    expect(third.seq).toBe(3);
    const [event] = await sub.waitFor(1);
    expect(event?.messageEvents).toMatchObject({
      kind: "CREATED",
      conversationId,
      seq: 3,
      message: { id: third.id, seq: 3, content: "live one", sender: { id: alice.id } },
    });
    expect(typeof event?.messageEvents.cursor).toBe("string");
    await sub.quietFor(300);

    // The rows as send_message wrote them on PGlite: gap-free seqs, one message.created event each.
    const rows = await app.db.prisma.$queryRaw<{ seq: number; created: number }[]>`
      SELECT m.seq, (SELECT count(*)::int FROM "Event" e
                      WHERE e."messageId" = m.id AND e.type = 'message.created') AS created
        FROM "Message" m WHERE m."conversationId" = ${conversationId}::uuid ORDER BY m.seq`;
    expect(rows).toEqual([1, 2, 3].map((seq) => ({ seq, created: 1 })));
  } finally {
    for (const c of ws) await c.dispose();
    await app.stop();
  }
});

test("embedded app: the job queue runs on PGlite (a broadcast fans out, a scheduled notification fires)", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "messaging-embedded-jobs-"));
  const app = await buildApp(
    loadConfig({
      NODE_ENV: "test",
      DATA_DIR: dir,
      JWT_SECRET: TEST_JWT_SECRET,
      API_KEY: TEST_API_KEY,
      JOB_POLL_SECONDS: "0.5",
      BROADCAST_BATCH_SIZE: "2",
    }),
  );
  try {
    expect(app.db.kind).toBe("pglite");
    const url = await app.start(0, "127.0.0.1");
    const server = { app, url, client: new Client(url), stop: () => app.stop() };
    const system = server.client.as({ apiKey: TEST_API_KEY });
    const users = [await signUp(server, "embj"), await signUp(server, "embj"), await signUp(server, "embj")];

    // Three recipients in batches of two: two fan-out jobs, each its own transaction on PGlite.
    const { broadcast } = await system.ok(SendBroadcastDocument, {
      input: { userIds: users.map((u) => u.id), title: "Hello", body: "from the embedded queue" },
    });
    let progress: BroadcastProgressQuery["broadcast"] = null;
    await waitUntil(
      async () => {
        progress = (await system.ok(BroadcastProgressDocument, { id: broadcast.id })).broadcast;
        return progress?.status === "COMPLETED";
      },
      { what: "the broadcast to complete", timeoutMs: 30_000 },
    );
    expect(progress).toMatchObject({ total: 3, counts: { sent: 3, total: 3 } });

    // Due in a second: SCHEDULED (invisible to the addressee) until a job delivers it.
    const [first] = users;
    if (!first) throw new Error("no user");
    const scheduledAt = new Date(Date.now() + 1_000).toISOString();
    const { sendNotification } = await system.ok(SendNotificationDocument, {
      userId: first.id,
      title: "Later",
      body: "scheduled",
      scheduledAt,
    });
    expect(sendNotification.status).toBe("SCHEDULED");
    await waitUntil(
      async () => {
        const { notifications } = await first.client.ok(NotificationsDocument, { first: 10 });
        return notifications.nodes.some((n) => n.id === sendNotification.id && n.status === "DELIVERED");
      },
      { what: "the scheduled notification to be delivered", timeoutMs: 30_000 },
    );
    const { notifications } = await first.client.ok(NotificationsDocument, { first: 10 });
    expect(notifications.totalCount).toBe(2); // the broadcast's and the scheduled one, once each
  } finally {
    await app.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
