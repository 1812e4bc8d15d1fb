// Resuming subscriptions from a cursor on the other instance (messageEvents, receiptEvents,
// notificationEvents), bad cursors, and delivery without Redis (the log alone carries events).
import { describe, expect, it } from "vitest";
import { createNotification } from "../src/features/notifications/notifications.ts";
import {
  CreateGroupForRealtimeDocument,
  DeleteMessageForRealtimeDocument,
  EditMessageForRealtimeDocument,
  MarkReadForSetupDocument,
  MessageEventsDocument,
  type MessageEventsSubscription,
  NotificationEventsForRealtimeDocument,
  ReceiptEventsDocument,
  ReplyToMessageForRealtimeDocument,
  SendMessageForRealtimeDocument,
  type TypedDocumentString,
} from "./gql/graphql.ts";
import { caughtUp, endError, live, REDIS_URL, useRealtime, withLogLock } from "./helpers/realtime.ts";
import { signUp, type TestServer, type TestUser, uniqueName, useServers } from "./helpers/server.ts";
import type { Subscription } from "./helpers/subscriptions.ts";
import { waitUntil } from "./helpers/wait.ts";

const [s1, s2] = useServers(2, { REDIS_URL });
const rt = useRealtime([s1, s2]);

const QUIET_MS = 600;

const via = (server: TestServer, user: TestUser) => server.client.as({ token: user.token });
const send = async (
  server: TestServer,
  user: TestUser,
  vars: { to?: string; conversationId?: string; content: string },
) => (await via(server, user).ok(SendMessageForRealtimeDocument, vars)).sendMessage;

const messageEvents = (sub: Subscription<MessageEventsSubscription>) =>
  sub.values.map((v) => v.messageEvents);

/** Disconnects and waits until the server dropped the subscription. */
async function drop(server: TestServer, opened: { disconnect: () => Promise<void> }) {
  const hub = server.app.services.hub;
  const before = hub.size;
  await opened.disconnect();
  await waitUntil(() => hub.size < before, { what: "the server to drop the subscription", timeoutMs: 5_000 });
  expect(hub.size).toBeLessThan(before);
}

describe("resume after a reconnect, on the other instance", () => {
  it("messageEvents: exactly the 10 missed events (sends, an edit, a delete, a reply) in order, then live ones", async () => {
    await withLogLock(async () => {
      const [a, b] = await Promise.all([signUp(s1, "rt"), signUp(s1, "rt")]);
      const first = await send(s1, a, { to: b.id, content: "m1" });
      const conversationId = first.conversation.id;
      await caughtUp(s1, { conversationIds: [conversationId] });

      const opened = await live(s1, 1, () => rt.wsAlone(s1, b.token, MessageEventsDocument, {}));
      const m2 = await send(s1, a, { conversationId, content: "m2" });
      const m3 = await send(s1, a, { conversationId, content: "m3" });
      const seen = await opened.sub.waitFor(2);
      const cursor = seen.at(-1)?.messageEvents.cursor;
      expect(seen.map((v) => v.messageEvents.message.id)).toEqual([m2.id, m3.id]);
      if (!cursor) throw new Error("no cursor");
      await drop(s1, opened);

      // 10 events while B is away, alternating instances.
      const missed: [string, string][] = [];
      const m4 = await send(s1, a, { conversationId, content: "m4" });
      missed.push(["CREATED", m4.id]);
      const m5 = await send(s2, a, { conversationId, content: "m5" });
      missed.push(["CREATED", m5.id]);
      await via(s1, a).ok(EditMessageForRealtimeDocument, { id: m4.id, content: "m4 edited" });
      missed.push(["EDITED", m4.id]);
      const m6 = await send(s2, b, { conversationId, content: "m6 from b" });
      missed.push(["CREATED", m6.id]);
      const r1 = (await via(s1, b).ok(ReplyToMessageForRealtimeDocument, { parentId: m2.id, content: "r1" }))
        .replyToMessage;
      missed.push(["REPLIED", r1.id]);
      await via(s2, a).ok(DeleteMessageForRealtimeDocument, { id: m3.id });
      missed.push(["DELETED", m3.id]);
      for (const content of ["m7", "m8", "m9", "m10"]) {
        const m = await send(content === "m8" ? s2 : s1, a, { conversationId, content });
        missed.push(["CREATED", m.id]);
      }
      expect(missed).toHaveLength(10);

      const resumed = rt.ws(s2, b.token, MessageEventsDocument, { after: cursor });
      const resumedSse = rt.sse(s1, b.token, MessageEventsDocument, { after: cursor });
      for (const sub of [resumed, resumedSse]) await sub.waitFor(10);
      await resumed.quietFor(QUIET_MS);
      for (const sub of [resumed, resumedSse]) {
        const events = messageEvents(sub);
        expect(events.map((e) => [e.kind, e.message.id])).toEqual(missed);
        expect(events.every((e) => e.conversationId === conversationId)).toBe(true);
        // The message is as it is now: m3 is a tombstone, m4 carries its edit.
        expect(events.find((e) => e.kind === "DELETED")?.message).toMatchObject({
          isDeleted: true,
          content: null,
        });
        expect(events.find((e) => e.kind === "EDITED")?.message.content).toBe("m4 edited");
        expect(new Set(events.map((e) => e.cursor)).size).toBe(10);
        expect(events.map((e) => e.cursor)).not.toContain(cursor);
      }

      const live1 = await send(s1, a, { conversationId, content: "live 1" });
      const live2 = await send(s2, a, { conversationId, content: "live 2" });
      for (const sub of [resumed, resumedSse]) await sub.waitFor(12);
      await resumed.quietFor(QUIET_MS);
      for (const sub of [resumed, resumedSse]) {
        expect(messageEvents(sub).map((e) => [e.kind, e.message.id])).toEqual([
          ...missed,
          ["CREATED", live1.id],
          ["CREATED", live2.id],
        ]);
      }
    });
  });

  it("receiptEvents: exactly the 10 missed receipts in order, then live ones", async () => {
    await withLogLock(async () => {
      const [a, b] = await Promise.all([signUp(s1, "rt"), signUp(s1, "rt")]);
      const messages = [await send(s1, a, { to: b.id, content: "1" })];
      const conversationId = messages[0]?.conversation.id as string;
      for (let i = 2; i <= 14; i++) messages.push(await send(s1, a, { conversationId, content: `${i}` }));
      const markRead = (server: TestServer, i: number) =>
        via(server, b).ok(MarkReadForSetupDocument, { messageId: messages[i]?.id as string });
      await caughtUp(s1, { conversationIds: [conversationId] });

      const opened = await live(s1, 1, () => rt.wsAlone(s1, a.token, ReceiptEventsDocument, {}));
      await markRead(s2, 0);
      await markRead(s2, 1);
      const seen = (await opened.sub.waitFor(2)).map((v) => v.receiptEvents);
      expect(seen.map((e) => e.seq)).toEqual([1, 2]);
      const cursor = seen[1]?.cursor as string;
      await drop(s1, opened);

      for (let i = 2; i < 12; i++) await markRead(i % 2 ? s1 : s2, i);

      const resumed = rt.ws(s2, a.token, ReceiptEventsDocument, { after: cursor });
      const resumedSse = rt.sse(s1, a.token, ReceiptEventsDocument, { after: cursor, conversationId });
      for (const sub of [resumed, resumedSse]) await sub.waitFor(10);
      await resumed.quietFor(QUIET_MS);
      const missed = messages.slice(2, 12).map((m) => [m.seq, m.id, b.id]);
      for (const sub of [resumed, resumedSse]) {
        const events = sub.values.map((v) => v.receiptEvents);
        expect(events.map((e) => [e.seq, e.message?.id, e.user.id])).toEqual(missed);
        expect(events.every((e) => e.conversation.id === conversationId)).toBe(true);
      }

      await markRead(s1, 12);
      await markRead(s2, 13);
      for (const sub of [resumed, resumedSse]) await sub.waitFor(12);
      await resumed.quietFor(QUIET_MS);
      for (const sub of [resumed, resumedSse]) {
        expect(sub.values.map((v) => v.receiptEvents.seq)).toEqual([3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
      }
    });
  });

  it("notificationEvents: exactly the 10 missed notifications of the viewer in order, then live ones", async () => {
    await withLogLock(async () => {
      const [b, other] = await Promise.all([signUp(s1, "rt"), signUp(s1, "rt")]);
      const notify = (server: TestServer, userId: string, title: string) =>
        createNotification(server.app.services, {
          userId,
          type: "rt.test",
          title,
          body: `body of ${title}`,
          priority: "HIGH",
          data: { title, nested: { n: 1 } },
        });
      await caughtUp(s1, { userIds: [b.id] });

      const opened = await live(s1, 1, () =>
        rt.wsAlone(s1, b.token, NotificationEventsForRealtimeDocument, {}),
      );
      const n1 = await notify(s1, b.id, "n1");
      const n2 = await notify(s2, b.id, "n2");
      const seen = (await opened.sub.waitFor(2)).map((v) => v.notificationEvents);
      expect(seen.map((e) => e.notification.id)).toEqual([n1.id, n2.id]);
      expect(seen[0]?.notification).toEqual({
        id: n1.id,
        type: "rt.test",
        title: "n1",
        body: "body of n1",
        priority: "HIGH",
        data: { title: "n1", nested: { n: 1 } },
      });
      const cursor = seen[1]?.cursor as string;
      await drop(s1, opened);

      const missed: string[] = [];
      for (let i = 3; i <= 12; i++) {
        missed.push((await notify(i % 2 ? s1 : s2, b.id, `n${i}`)).id);
        // Someone else's notifications in between are not the viewer's.
        if (i % 3 === 0) await notify(s1, other.id, `for someone else ${i}`);
      }

      const resumed = rt.ws(s2, b.token, NotificationEventsForRealtimeDocument, { after: cursor });
      const resumedSse = rt.sse(s1, b.token, NotificationEventsForRealtimeDocument, { after: cursor });
      for (const sub of [resumed, resumedSse]) await sub.waitFor(10);
      await resumed.quietFor(QUIET_MS);
      for (const sub of [resumed, resumedSse]) {
        expect(sub.values.map((v) => v.notificationEvents.notification.id)).toEqual(missed);
      }

      const live1 = await notify(s1, b.id, "live 1");
      await notify(s2, other.id, "not b's");
      const live2 = await notify(s2, b.id, "live 2");
      for (const sub of [resumed, resumedSse]) await sub.waitFor(12);
      await resumed.quietFor(QUIET_MS);
      for (const sub of [resumed, resumedSse]) {
        expect(sub.values.map((v) => v.notificationEvents.notification.id)).toEqual([
          ...missed,
          live1.id,
          live2.id,
        ]);
      }
    });
  });

  it("a malformed cursor is BAD_USER_INPUT on field after (WS and SSE, every resumable subscription)", async () => {
    const b = await signUp(s1, "rt");
    const malformed = [
      "not a cursor",
      "%%%",
      Buffer.from("12.x").toString("base64url"),
      Buffer.from("-1.2").toString("base64url"),
      Buffer.from("1.2.3").toString("base64url"),
    ];
    type AnyDoc = TypedDocumentString<unknown, { after: string }>;
    const docs = [
      MessageEventsDocument,
      ReceiptEventsDocument,
      NotificationEventsForRealtimeDocument,
    ] as AnyDoc[];
    for (const after of malformed) {
      for (const doc of docs) {
        for (const sub of [rt.ws(s1, b.token, doc, { after }), rt.sse(s2, b.token, doc, { after })]) {
          const error = await endError(sub);
          expect(error?.code, `${after}`).toBe("BAD_USER_INPUT");
          expect(error?.extensions.field).toBe("after");
          expect(error?.extensions.reason).toBeUndefined();
          expect(sub.values).toEqual([]);
        }
      }
    }
  });
});

describe("without Redis", () => {
  const [p1, p2] = useServers(2, { EVENT_POLL_MS: "100" });
  const local = useRealtime([p1, p2]);

  it("B on S2 still receives A's message sent through S1: the log, polled, carries delivery", async () => {
    expect(p1.app.services.pubsub.kind).toBe("local");
    expect(p2.app.services.pubsub.kind).toBe("local");
    const [a, b] = await Promise.all([signUp(p1, "rt"), signUp(p1, "rt")]);
    const { createGroup } = await via(p1, a).ok(CreateGroupForRealtimeDocument, {
      title: uniqueName("rtgroup"),
      memberIds: [b.id],
    });
    await caughtUp(p2, { conversationIds: [createGroup.id] });
    const [ws, sse] = await live(p2, 2, () => [
      local.ws(p2, b.token, MessageEventsDocument, {}),
      local.sse(p2, b.token, MessageEventsDocument, { conversationId: createGroup.id }),
    ]);
    const m1 = await send(p1, a, { conversationId: createGroup.id, content: "polled 1" });
    const m2 = await send(p1, a, { conversationId: createGroup.id, content: "polled 2" });
    for (const sub of [ws, sse]) await sub.waitFor(2, 10_000);
    await ws.quietFor(QUIET_MS);
    for (const sub of [ws, sse]) {
      expect(messageEvents(sub).map((e) => [e.kind, e.seq, e.message.id, e.message.content])).toEqual([
        ["CREATED", 1, m1.id, "polled 1"],
        ["CREATED", 2, m2.id, "polled 2"],
      ]);
    }
  });
});
