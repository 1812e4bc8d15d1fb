// Resuming from a cursor the event log no longer holds. pruneEvents deletes every committed event of
// the shared test database (other test files' too), so this lives in its own file and holds the
// run's event-log lock (see withLogLock) while its cursor is out, as the resume tests do.
import { describe, expect, it } from "vitest";
import { pruneEvents } from "../src/events/log.ts";
import { createNotification } from "../src/features/notifications/notifications.ts";
import {
  MessageEventsDocument,
  NotificationEventsForRealtimeDocument,
  ReceiptEventsDocument,
  SendMessageForRealtimeDocument,
} from "./gql/graphql.ts";
import { caughtUp, endError, live, REDIS_URL, useRealtime, withLogLock } from "./helpers/realtime.ts";
import { signUp, type TestServer, type TestUser, useServers } from "./helpers/server.ts";
import type { Subscription } from "./helpers/subscriptions.ts";

const [s1, s2] = useServers(2, { REDIS_URL });
const rt = useRealtime([s1, s2]);

const via = (server: TestServer, user: TestUser) => server.client.as({ token: user.token });

describe("a cursor older than the retained log", () => {
  it("answers BAD_USER_INPUT with reason CURSOR_EXPIRED on field after, over WS and SSE", async () => {
    await withLogLock(async () => {
      const [a, b] = await Promise.all([signUp(s1, "rt"), signUp(s1, "rt")]);
      const first = (await via(s1, a).ok(SendMessageForRealtimeDocument, { to: b.id, content: "before" }))
        .sendMessage;
      const conversationId = first.conversation.id;
      await caughtUp(s1, { conversationIds: [conversationId], userIds: [b.id] });
      const opened = await live(s1, 2, () => [
        rt.wsAlone(s1, b.token, MessageEventsDocument, {}),
        rt.wsAlone(s1, b.token, NotificationEventsForRealtimeDocument, {}),
      ]);
      const [messages, notifications] = opened;
      await via(s1, a).ok(SendMessageForRealtimeDocument, { conversationId, content: "cursor" });
      await createNotification(s1.app.services, { userId: b.id, type: "rt.test", title: "t", body: "b" });
      const messageCursor = (await messages.sub.waitFor(1))[0]?.messageEvents.cursor as string;
      const notificationCursor = (await notifications.sub.waitFor(1))[0]?.notificationEvents.cursor as string;
      await Promise.all(opened.map((o) => o.disconnect()));

      // Events after the cursors, then the log is pruned past them.
      await via(s1, a).ok(SendMessageForRealtimeDocument, { conversationId, content: "after" });
      await createNotification(s1.app.services, { userId: b.id, type: "rt.test", title: "t2", body: "b2" });
      expect(await pruneEvents(s1.app.services.prisma, new Date(Date.now() + 60_000))).toBeGreaterThan(0);

      const subs = [
        rt.ws(s2, b.token, MessageEventsDocument, { after: messageCursor }),
        rt.sse(s1, b.token, MessageEventsDocument, { after: messageCursor }),
        rt.ws(s1, b.token, MessageEventsDocument, { after: messageCursor, conversationId }),
        rt.sse(s2, b.token, ReceiptEventsDocument, { after: messageCursor }),
        rt.ws(s2, b.token, NotificationEventsForRealtimeDocument, { after: notificationCursor }),
        rt.sse(s1, b.token, NotificationEventsForRealtimeDocument, { after: notificationCursor }),
      ] as Subscription<unknown>[];
      for (const sub of subs) {
        const error = await endError(sub);
        expect(error?.code).toBe("BAD_USER_INPUT");
        expect(error?.extensions.reason).toBe("CURSOR_EXPIRED");
        expect(error?.extensions.field).toBe("after");
        expect(sub.values).toEqual([]);
      }

      // Without a cursor the viewer subscribes again and gets what comes next.
      const fresh = await live(s2, 1, () => rt.ws(s2, b.token, MessageEventsDocument, {}));
      const next = (await via(s1, a).ok(SendMessageForRealtimeDocument, { conversationId, content: "fresh" }))
        .sendMessage;
      const [event] = (await fresh.waitFor(1)).map((v) => v.messageEvents);
      expect(event).toMatchObject({ kind: "CREATED", message: { id: next.id } });
    });
  });
});
