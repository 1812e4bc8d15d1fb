// Scheduled sends: notifications and messages with scheduledAt fire at their time through durable
// jobs (absent before), cancelScheduled before the time means never, after it CONFLICT; the checks
// of sendMessage run again when a message fires.
import { beforeAll, describe, expect, it } from "vitest";
import {
  CancelScheduledDocument,
  ChatForScheduleDocument,
  NotificationsDocument,
  RemoveMemberForSetupDocument,
  ScheduledMessagesDocument,
  ScheduleMessageDocument,
  SendNotificationDocument,
} from "./gql/graphql.ts";
import { createGroup } from "./helpers/actions.ts";
import type { Client } from "./helpers/client.ts";
import { signUp, TEST_API_KEY, type TestUser, useServer } from "./helpers/server.ts";
import { useSql } from "./helpers/sql.ts";
import { waitUntil } from "./helpers/wait.ts";

const WAIT = 30_000;
const server = useServer({ JOB_POLL_SECONDS: "0.5", JOB_RETRY_DELAY_SECONDS: "1" });
const sql = useSql();
let system: Client;
let alice: TestUser;
let bob: TestUser;

const inSeconds = (s: number) => new Date(Date.now() + s * 1000).toISOString();

beforeAll(async () => {
  system = server.client.as({ apiKey: TEST_API_KEY });
  alice = await signUp(server, "sca");
  bob = await signUp(server, "scb");
});

const titlesOf = async (user: TestUser) =>
  (await user.client.ok(NotificationsDocument, {})).notifications.nodes.map((n) => n.title);

/** Waits until the fire job of a scheduled thing (found by the id in its data) has completed. */
const fireJobDone = (queue: string, key: string, id: string) =>
  waitUntil(
    async () =>
      (
        await sql.query(
          `SELECT 1 FROM pgboss.job WHERE name = $1 AND data->>$2 = $3 AND state = 'completed'`,
          [queue, key, id],
        )
      ).length === 1,
    { what: `${queue} job for ${id} to complete`, timeoutMs: WAIT },
  );
describe("scheduled notifications", () => {
  it("stay invisible until scheduledAt, then arrive (DELIVERED, deliveredAt, event)", async () => {
    const at = inSeconds(4);
    const { sendNotification: n } = await system.ok(SendNotificationDocument, {
      userId: bob.id,
      title: "Later",
      body: "at the time",
      scheduledAt: at,
    });
    expect(n).toMatchObject({
      status: "SCHEDULED",
      deliveredAt: null,
      scheduledAt: new Date(at).toISOString(),
    });
    expect(await titlesOf(bob)).not.toContain("Later");
    const created = () =>
      sql.query(
        `SELECT 1 FROM "Event" WHERE type = 'notification.created' AND payload->>'notificationId' = $1`,
        [n.id],
      );
    expect(await created()).toHaveLength(0);
    await waitUntil(async () => (await titlesOf(bob)).includes("Later"), { what: "fired", timeoutMs: WAIT });
    const [row] = await sql.query<{ status: string; deliveredAt: Date }>(
      `SELECT status::text, "deliveredAt" FROM "Notification" WHERE id = $1::uuid`,
      [n.id],
    );
    expect(row?.status).toBe("DELIVERED");
    expect(new Date(row?.deliveredAt as Date).getTime()).toBeGreaterThanOrEqual(new Date(at).getTime() - 50);
    expect(await created()).toHaveLength(1);
    // Fired already: cancelling is a CONFLICT.
    expect((await system.fail(CancelScheduledDocument, { id: n.id })).code).toBe("CONFLICT");
  });

  it("cancelled before its time: never delivered; only the API key or an ADMIN cancels", async () => {
    const { sendNotification: n } = await system.ok(SendNotificationDocument, {
      userId: bob.id,
      title: "Never",
      body: "cancelled",
      scheduledAt: inSeconds(5),
    });
    expect((await bob.client.fail(CancelScheduledDocument, { id: n.id })).code).toBe("NOT_FOUND");
    expect((await system.ok(CancelScheduledDocument, { id: n.id })).cancelScheduled).toBe(true);
    expect((await system.fail(CancelScheduledDocument, { id: n.id })).code).toBe("CONFLICT");
    // The job runs at its time and finds it CANCELLED.
    await fireJobDone("notification.fire", "notificationId", n.id);
    expect(await titlesOf(bob)).not.toContain("Never");
    const [row] = await sql.query<{ status: string }>(
      `SELECT status::text FROM "Notification" WHERE id = $1::uuid`,
      [n.id],
    );
    expect(row?.status).toBe("CANCELLED");
  });
});

describe("scheduled messages", () => {
  it("fires at its time as the sender (absent before), then FIRED with the message", async () => {
    const { scheduleMessage: s } = await alice.client.ok(ScheduleMessageDocument, {
      to: bob.username,
      content: "Good morning!",
      scheduledAt: inSeconds(4),
    });
    expect(s).toMatchObject({ state: "PENDING", message: null, content: "Good morning!" });
    expect((await bob.client.ok(ChatForScheduleDocument, { with: alice.id })).chat.totalCount).toBe(0);
    await waitUntil(
      async () => (await bob.client.ok(ChatForScheduleDocument, { with: alice.id })).chat.totalCount === 1,
      { what: "message arrived", timeoutMs: WAIT },
    );
    const chat = await bob.client.ok(ChatForScheduleDocument, { with: alice.id });
    expect(chat.chat.nodes[0]?.content).toBe("Good morning!");
    await waitUntil(
      async () => {
        const list = await alice.client.ok(ScheduledMessagesDocument, {});
        return list.scheduledMessages.nodes.find((m) => m.id === s.id)?.message != null;
      },
      { what: "FIRED", timeoutMs: WAIT },
    );
    const list = await alice.client.ok(ScheduledMessagesDocument, {});
    const fired = list.scheduledMessages.nodes.find((m) => m.id === s.id);
    expect(fired).toMatchObject({ state: "FIRED", message: { content: "Good morning!" } });
    expect(fired?.conversation?.id).toBeTruthy();
    expect((await alice.client.fail(CancelScheduledDocument, { id: s.id })).code).toBe("CONFLICT");
  });

  it("cancelled before its time: never sent; only its sender cancels", async () => {
    const carol = await signUp(server, "scc");
    const { scheduleMessage: s } = await alice.client.ok(ScheduleMessageDocument, {
      to: carol.id,
      content: "Never sent",
      scheduledAt: inSeconds(5),
    });
    expect((await carol.client.fail(CancelScheduledDocument, { id: s.id })).code).toBe("NOT_FOUND");
    expect((await system.fail(CancelScheduledDocument, { id: s.id })).code).toBe("NOT_FOUND");
    expect((await alice.client.ok(CancelScheduledDocument, { id: s.id })).cancelScheduled).toBe(true);
    await fireJobDone("message.fire", "scheduledMessageId", s.id);
    expect((await carol.client.ok(ChatForScheduleDocument, { with: alice.id })).chat.totalCount).toBe(0);
    const list = await alice.client.ok(ScheduledMessagesDocument, {});
    expect(list.scheduledMessages.nodes.find((m) => m.id === s.id)?.state).toBe("CANCELLED");
  });

  it("checks at schedule time like sendMessage, and again when it fires", async () => {
    const cases: [Record<string, unknown>, string, string | undefined][] = [
      [{ content: "x", scheduledAt: inSeconds(60) }, "BAD_USER_INPUT", "to"],
      [{ to: bob.id, conversationId: "x", content: "x", scheduledAt: inSeconds(60) }, "BAD_USER_INPUT", "to"],
      [{ to: alice.id, content: "x", scheduledAt: inSeconds(60) }, "BAD_USER_INPUT", "to"],
      [{ to: bob.id, content: "  ", scheduledAt: inSeconds(60) }, "BAD_USER_INPUT", "content"],
      [{ to: bob.id, content: "x", scheduledAt: inSeconds(-5) }, "BAD_USER_INPUT", "scheduledAt"],
      [
        { to: bob.id, content: "x", scheduledAt: inSeconds(400 * 24 * 3600) },
        "BAD_USER_INPUT",
        "scheduledAt",
      ],
      [{ to: "nobody_at_all_here", content: "x", scheduledAt: inSeconds(60) }, "NOT_FOUND", undefined],
    ];
    for (const [vars, code, field] of cases) {
      const r = await alice.client.fail(ScheduleMessageDocument, vars as never);
      expect([r.code, r.field], JSON.stringify(vars)).toEqual([code, field]);
    }
    const stranger = await signUp(server, "scs");
    const dave = await signUp(server, "scd");
    const group = await createGroup(alice, [dave]);
    const notMember = await stranger.client.fail(ScheduleMessageDocument, {
      conversationId: group,
      content: "x",
      scheduledAt: inSeconds(60),
    });
    expect(notMember.code).toBe("NOT_FOUND");
    expect(
      (
        await server.client.fail(ScheduleMessageDocument, {
          to: bob.id,
          content: "x",
          scheduledAt: inSeconds(60),
        })
      ).code,
    ).toBe("UNAUTHENTICATED");

    // Dave schedules into the group, then is removed before it fires: FAILED with lastError.
    const { scheduleMessage: s } = await dave.client.ok(ScheduleMessageDocument, {
      conversationId: group,
      content: "from dave",
      scheduledAt: inSeconds(5),
    });
    await alice.client.ok(RemoveMemberForSetupDocument, { conversationId: group, userId: dave.id });
    await waitUntil(
      async () =>
        (await dave.client.ok(ScheduledMessagesDocument, {})).scheduledMessages.nodes[0]?.state === "FAILED",
      { what: "FAILED", timeoutMs: WAIT },
    );
    const [failed] = (await dave.client.ok(ScheduledMessagesDocument, {})).scheduledMessages.nodes;
    expect(failed).toMatchObject({ id: s.id, message: null });
    expect(failed?.lastError).toContain("not found");
    const sent = await sql.query(`SELECT 1 FROM "Message" WHERE "senderId" = $1::uuid`, [dave.id]);
    expect(sent).toHaveLength(0);
  });

  it("cancelScheduled: unknown ids NOT_FOUND; anonymous UNAUTHENTICATED", async () => {
    expect((await alice.client.fail(CancelScheduledDocument, { id: "nope" })).code).toBe("NOT_FOUND");
    expect(
      (await system.fail(CancelScheduledDocument, { id: "00000000-0000-7000-8000-000000000000" })).code,
    ).toBe("NOT_FOUND");
    expect((await server.client.fail(CancelScheduledDocument, { id: "nope" })).code).toBe("UNAUTHENTICATED");
  });
});
