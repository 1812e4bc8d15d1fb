import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  AddMembersDocument,
  DeleteMessageDocument,
  EditMessageDocument,
  LeaveConversationDocument,
  MarkReadDocument,
  RemoveMemberDocument,
  ReplyToMessageDocument,
  SendMessageDocument,
  SetMemberRoleDocument,
} from "./gql/graphql.ts";
import { createGroup, send } from "./helpers/actions.ts";
import { signUp, type TestUser, uniqueName, useServer } from "./helpers/server.ts";
import { type EventRow, useSql } from "./helpers/sql.ts";

// Other test files share this database and run at the same time, so every look at the Event log is
// narrowed to the conversations and users a test created itself.

const server = useServer();
const sql = useSql();

type About = { conversationIds?: string[]; userIds?: string[] };

/**
 * What a mutation appended to the log about these conversations/users (`about` may be a function,
 * read after the mutation, for conversations it creates).
 */
async function logged(about: About | (() => About), action: () => Promise<unknown>): Promise<EventRow[]> {
  const before = await sql.maxEventId();
  await action();
  return sql.eventsSince(before, typeof about === "function" ? about() : about);
}

const pick = (e: EventRow) => ({
  type: e.type,
  conversationId: e.conversationId,
  userId: e.userId,
  messageId: e.messageId,
  seq: e.seq,
});

const expectIncreasing = (events: EventRow[]) => {
  for (let i = 1; i < events.length; i++) {
    expect((events[i] as EventRow).id > (events[i - 1] as EventRow).id).toBe(true);
  }
};

describe("message events", () => {
  it("the first direct send logs conversation.created, member.added x2 and message.created; later sends only message.created", async () => {
    const [a, b] = [await signUp(server), await signUp(server)];
    let first: Awaited<ReturnType<typeof send>> | undefined;
    const events = await logged(
      () => ({ conversationIds: first ? [first.conversation.id] : [], userIds: [a.id, b.id] }),
      async () => {
        first = await send(a, { to: b.username, content: "hello" });
      },
    );
    if (!first) throw new Error("no message");
    const conversationId = first.conversation.id;
    // Every event of the send is about the new conversation.
    expect(events.every((e) => e.conversationId === conversationId)).toBe(true);
    expect(events.map((e) => e.type)).toEqual([
      "conversation.created",
      "member.added",
      "member.added",
      "message.created",
    ]);
    expect(
      events
        .filter((e) => e.type === "member.added")
        .map((e) => e.userId)
        .sort(),
    ).toEqual([a.id, b.id].sort());
    expect(pick(events[3] as EventRow)).toMatchObject({ conversationId, messageId: first.id, seq: 1 });
    expect(events[3]?.payload).toMatchObject({ senderId: a.id });
    expectIncreasing(events);

    let second: Awaited<ReturnType<typeof send>> | undefined;
    const later = await logged({ conversationIds: [conversationId], userIds: [a.id, b.id] }, async () => {
      second = await send(b, { to: a.id, content: "hi" });
    });
    expect(later.map(pick)).toEqual([
      { type: "message.created", conversationId, userId: null, messageId: second?.id, seq: 2 },
    ]);
    expect(later[0]?.payload).toMatchObject({ senderId: b.id });
    expect((later[0] as EventRow).id > (events[3] as EventRow).id).toBe(true);
  });

  it("sending into a group logs message.created only", async () => {
    const [a, b] = [await signUp(server), await signUp(server)];
    const group = await createGroup(a, [b]);
    let m: Awaited<ReturnType<typeof send>> | undefined;
    const events = await logged({ conversationIds: [group], userIds: [a.id, b.id] }, async () => {
      m = await send(b, { conversationId: group, content: "hey" });
    });
    expect(events.map(pick)).toEqual([
      { type: "message.created", conversationId: group, userId: null, messageId: m?.id, seq: 1 },
    ]);
  });

  it("reply, edit and delete log message.replied, message.edited and message.deleted", async () => {
    const [a, b] = [await signUp(server), await signUp(server)];
    const parent = await send(a, { to: b.id, content: "parent" });
    const conversationId = parent.conversation.id;
    const about = { conversationIds: [conversationId], userIds: [a.id, b.id] };

    let replyId = "";
    const replied = await logged(about, async () => {
      replyId = (await b.client.ok(ReplyToMessageDocument, { parentId: parent.id, content: "reply" }))
        .replyToMessage.id;
    });
    expect(replied.map(pick)).toEqual([
      { type: "message.replied", conversationId, userId: null, messageId: replyId, seq: 2 },
    ]);
    expect(replied[0]?.payload).toMatchObject({ senderId: b.id, parentId: parent.id });

    const edited = await logged(about, () =>
      a.client.ok(EditMessageDocument, { id: parent.id, content: "edited" }),
    );
    expect(edited.map(pick)).toEqual([
      { type: "message.edited", conversationId, userId: null, messageId: parent.id, seq: 1 },
    ]);

    const deleted = await logged(about, () => b.client.ok(DeleteMessageDocument, { id: replyId }));
    expect(deleted.map(pick)).toEqual([
      { type: "message.deleted", conversationId, userId: null, messageId: replyId, seq: 2 },
    ]);
    expect(deleted[0]?.payload).toMatchObject({ deletedBy: b.id });

    // Repeating the delete is a no-op success: no second event.
    expect(await logged(about, () => b.client.ok(DeleteMessageDocument, { id: replyId }))).toEqual([]);
    expectIncreasing([...replied, ...edited, ...deleted]);
  });

  it("markRead logs receipt.updated for the reader with the new seq, and nothing when the pointer stays", async () => {
    const [a, b] = [await signUp(server), await signUp(server)];
    const m1 = await send(a, { to: b.id, content: "one" });
    await send(a, { to: b.id, content: "two" });
    const m3 = await send(a, { to: b.id, content: "three" });
    const conversationId = m1.conversation.id;
    const about = { conversationIds: [conversationId], userIds: [a.id, b.id] };

    const byMessage = await logged(about, () => b.client.ok(MarkReadDocument, { messageId: m1.id }));
    expect(byMessage.map(pick)).toEqual([
      { type: "receipt.updated", conversationId, userId: b.id, messageId: m1.id, seq: 1 },
    ]);

    const byConversation = await logged(about, () => b.client.ok(MarkReadDocument, { conversationId }));
    expect(byConversation).toHaveLength(1);
    expect(pick(byConversation[0] as EventRow)).toMatchObject({
      type: "receipt.updated",
      conversationId,
      userId: b.id,
      seq: m3.seq,
    });

    // Already read that far: nothing changes, nothing is logged.
    expect(await logged(about, () => b.client.ok(MarkReadDocument, { messageId: m1.id }))).toEqual([]);
    expect(await logged(about, () => b.client.ok(MarkReadDocument, { conversationId }))).toEqual([]);
  });
});

describe("group events", () => {
  it("create, add, role change, remove and leave log their events", async () => {
    const [owner, b, c, d] = [
      await signUp(server),
      await signUp(server),
      await signUp(server),
      await signUp(server),
    ];
    const users = [owner.id, b.id, c.id, d.id];

    let group = "";
    const created = await logged(
      () => ({ conversationIds: [group], userIds: users }),
      async () => {
        group = await createGroup(owner, [b, c]);
      },
    );
    expect(created.map((e) => e.type)).toEqual([
      "conversation.created",
      "member.added",
      "member.added",
      "member.added",
    ]);
    expect(created.every((e) => e.conversationId === group)).toBe(true);
    expect(
      created
        .filter((e) => e.type === "member.added")
        .map((e) => e.userId)
        .sort(),
    ).toEqual([owner.id, b.id, c.id].sort());

    const about = { conversationIds: [group], userIds: users };
    const added = await logged(about, () =>
      owner.client.ok(AddMembersDocument, { conversationId: group, memberIds: [d.username] }),
    );
    expect(added.map(pick)).toEqual([
      { type: "member.added", conversationId: group, userId: d.id, messageId: null, seq: null },
    ]);
    // Adding someone who is already a member changes nothing and logs nothing.
    expect(
      await logged(about, () =>
        owner.client.ok(AddMembersDocument, { conversationId: group, memberIds: [d.id] }),
      ),
    ).toEqual([]);

    const promoted = await logged(about, () =>
      owner.client.ok(SetMemberRoleDocument, { conversationId: group, userId: b.id, role: "ADMIN" }),
    );
    expect(promoted.map(pick)).toEqual([
      { type: "member.role_changed", conversationId: group, userId: b.id, messageId: null, seq: null },
    ]);
    expect(promoted[0]?.payload).toMatchObject({ role: "ADMIN" });

    const removed = await logged(about, () =>
      owner.client.ok(RemoveMemberDocument, { conversationId: group, userId: c.id }),
    );
    expect(removed.map(pick)).toEqual([
      { type: "member.removed", conversationId: group, userId: c.id, messageId: null, seq: null },
    ]);

    const left = await logged(about, () => d.client.ok(LeaveConversationDocument, { conversationId: group }));
    expect(left.map(pick)).toEqual([
      { type: "member.left", conversationId: group, userId: d.id, messageId: null, seq: null },
    ]);

    // The owner leaving hands the group to the admin: member.left, then member.role_changed.
    const ownerLeft = await logged(about, () =>
      owner.client.ok(LeaveConversationDocument, { conversationId: group }),
    );
    expect(ownerLeft.map((e) => [e.type, e.userId])).toEqual([
      ["member.left", owner.id],
      ["member.role_changed", b.id],
    ]);
    expect(ownerLeft[1]?.payload).toMatchObject({ role: "OWNER" });

    expectIncreasing([...created, ...added, ...promoted, ...removed, ...left, ...ownerLeft]);
  });

  it("handing ownership over logs a role change for both members", async () => {
    const [owner, b] = [await signUp(server), await signUp(server)];
    const group = await createGroup(owner, [b]);
    const events = await logged({ conversationIds: [group], userIds: [owner.id, b.id] }, () =>
      owner.client.ok(SetMemberRoleDocument, { conversationId: group, userId: b.username, role: "OWNER" }),
    );
    expect(events.map((e) => [e.type, e.userId, e.payload.role])).toEqual([
      ["member.role_changed", b.id, "OWNER"],
      ["member.role_changed", owner.id, "ADMIN"],
    ]);
  });
});

describe("failed and repeated mutations log nothing", () => {
  it("no event for refused sends, edits, deletes, reads and group changes, nor for an idempotent repeat", async () => {
    const [a, b, c, outsider] = [
      await signUp(server),
      await signUp(server),
      await signUp(server),
      await signUp(server),
    ];
    const group = await createGroup(a, [b, c]); // a OWNER, b and c MEMBERs
    const foreign = await createGroup(c, [b]); // a is not in it
    const clientMessageId = `cm-${randomUUID()}`;
    const m = await send(a, { conversationId: group, content: "keyed", clientMessageId });
    const direct = (await send(a, { to: b.id, content: "direct" })).conversation.id;
    const about = { conversationIds: [group, foreign, direct], userIds: [a.id, b.id, c.id, outsider.id] };

    const attempts: [string, () => Promise<{ code: unknown }>][] = [
      [
        "send to a group one is not in",
        () => a.client.fail(SendMessageDocument, { conversationId: foreign, content: "x" }),
      ],
      [
        "send to an unknown conversation",
        () => a.client.fail(SendMessageDocument, { conversationId: randomUUID(), content: "x" }),
      ],
      [
        "send with empty content",
        () => a.client.fail(SendMessageDocument, { conversationId: group, content: "  " }),
      ],
      ["send to oneself", () => a.client.fail(SendMessageDocument, { to: a.id, content: "x" })],
      [
        "send to an unknown user",
        () => a.client.fail(SendMessageDocument, { to: uniqueName("ghost"), content: "x" }),
      ],
      [
        "reply as an outsider",
        () => outsider.client.fail(ReplyToMessageDocument, { parentId: m.id, content: "x" }),
      ],
      ["edit by another member", () => b.client.fail(EditMessageDocument, { id: m.id, content: "x" })],
      ["delete by a plain member", () => b.client.fail(DeleteMessageDocument, { id: m.id })],
      ["delete by an outsider", () => outsider.client.fail(DeleteMessageDocument, { id: m.id })],
      ["markRead of one's own message", () => a.client.fail(MarkReadDocument, { messageId: m.id })],
      ["markRead as an outsider", () => outsider.client.fail(MarkReadDocument, { conversationId: group })],
      [
        "addMembers by a plain member",
        () => b.client.fail(AddMembersDocument, { conversationId: group, memberIds: [outsider.id] }),
      ],
      [
        "addMembers with an unknown user",
        () => a.client.fail(AddMembersDocument, { conversationId: group, memberIds: [uniqueName("ghost")] }),
      ],
      [
        "removeMember of oneself",
        () => a.client.fail(RemoveMemberDocument, { conversationId: group, userId: a.id }),
      ],
      [
        "removeMember by a plain member",
        () => b.client.fail(RemoveMemberDocument, { conversationId: group, userId: c.id }),
      ],
      [
        "setMemberRole by a plain member",
        () => b.client.fail(SetMemberRoleDocument, { conversationId: group, userId: c.id, role: "ADMIN" }),
      ],
      [
        "leave a group one is not in",
        () => outsider.client.fail(LeaveConversationDocument, { conversationId: group }),
      ],
    ];
    for (const [label, attempt] of attempts) {
      let code: unknown;
      const events = await logged(about, async () => {
        code = (await attempt()).code;
      });
      expect.soft(code, label).toBeTypeOf("string");
      expect
        .soft(
          events.map((e) => e.type),
          label,
        )
        .toEqual([]);
    }

    // The idempotent repeat succeeds, returns the first message, and logs nothing.
    let repeatId = "";
    const repeat = await logged(about, async () => {
      repeatId = (await send(a, { conversationId: group, content: "keyed", clientMessageId })).id;
    });
    expect(repeatId).toBe(m.id);
    expect(repeat).toEqual([]);
  });

  it("10 concurrent sends with one clientMessageId log exactly one message.created", async () => {
    const [a, b] = [await signUp(server), await signUp(server)];
    const conversationId = (await send(a, { to: b.id, content: "setup" })).conversation.id;
    const clientMessageId = `burst-${randomUUID()}`;
    let ids: string[] = [];
    const events = await logged({ conversationIds: [conversationId], userIds: [a.id, b.id] }, async () => {
      const sent = await Promise.all(
        Array.from({ length: 10 }, () => send(a, { conversationId, content: "burst", clientMessageId })),
      );
      ids = sent.map((s) => s.id);
    });
    expect(new Set(ids).size).toBe(1);
    expect(events.map(pick)).toEqual([
      { type: "message.created", conversationId, userId: null, messageId: ids[0], seq: 2 },
    ]);
  });
});

describe("event ids", () => {
  it("increase, and within a conversation follow seq even when sends run concurrently", async () => {
    const [a, b, c] = [await signUp(server), await signUp(server), await signUp(server)];
    const group = await createGroup(a, [b, c]);
    const before = await sql.maxEventId();
    await Promise.all(
      Array.from({ length: 24 }, (_, i) =>
        send([a, b, c][i % 3] as TestUser, { conversationId: group, content: `${i}` }),
      ),
    );
    const events = await sql.eventsSince(before, { conversationIds: [group] });
    expectIncreasing(events);
    expect(events.map((e) => e.type)).toEqual(Array(24).fill("message.created"));
    expect(events.map((e) => e.seq)).toEqual(Array.from({ length: 24 }, (_, i) => i + 1));

    // Every message row has exactly one event, with its id and seq.
    const rows = await sql.query<{ id: string; seq: number }>(
      `SELECT id::text AS id, seq FROM "Message" WHERE "conversationId" = $1::uuid ORDER BY seq`,
      [group],
    );
    expect(events.map((e) => [e.messageId, e.seq])).toEqual(rows.map((r) => [r.id, r.seq]));
    expect(events.every((e) => (e.id as bigint) > before)).toBe(true);
  });
});
