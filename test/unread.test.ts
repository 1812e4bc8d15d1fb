import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  AddMembersDocument,
  ConversationForUnreadDocument,
  DeleteMessageDocument,
  LeaveConversationDocument,
  MarkReadForUnreadDocument,
  ReadByForUnreadDocument,
  RemoveMemberDocument,
  ReplyToMessageDocument,
  UnreadDocument,
} from "./gql/graphql.ts";
import { createGroup, send } from "./helpers/actions.ts";
import { signUp, type TestUser, useServer } from "./helpers/server.ts";
import { useSql } from "./helpers/sql.ts";

const server = useServer();
const sql = useSql();

const unread = async (user: TestUser) => (await user.client.ok(UnreadDocument)).unread;

async function conversation(user: TestUser, id: string) {
  const { conversation } = await user.client.ok(ConversationForUnreadDocument, { id });
  if (!conversation) throw new Error("conversation missing");
  return conversation;
}

const unreadIn = async (user: TestUser, id: string) => (await conversation(user, id)).unreadCount;

/** The user's read pointer as members of the conversation see it. */
async function pointer(viewer: TestUser, id: string, of: TestUser = viewer) {
  const member = (await conversation(viewer, id)).members.find((m) => m.id === of.id);
  if (!member) throw new Error(`${of.username} is not a member`);
  return member.lastReadSeq;
}

const markRead = async (user: TestUser, vars: { messageId?: string; conversationId?: string }) =>
  (await user.client.ok(MarkReadForUnreadDocument, vars)).markRead;

async function readBy(user: TestUser, id: string) {
  const { message } = await user.client.ok(ReadByForUnreadDocument, { id });
  return (message?.readBy ?? []).map((m) => m.id).sort();
}

/** The stored counter and pointer, plus what the counter should be, recomputed from the Message rows. */
async function membershipState(conversationId: string, userId: string) {
  const [row] = await sql.query<{ unreadCount: number; lastReadSeq: number; expected: number }>(
    `SELECT m."unreadCount", m."lastReadSeq",
            (SELECT count(*)::int FROM "Message" x
              WHERE x."conversationId" = m."conversationId" AND x.seq > m."lastReadSeq"
                AND x."deletedAt" IS NULL AND x."senderId" IS DISTINCT FROM m."userId") AS expected
       FROM "Membership" m
      WHERE m."conversationId" = $1::uuid AND m."userId" = $2::uuid`,
    [conversationId, userId],
  );
  if (!row) throw new Error("membership missing");
  return row;
}

describe("unread counts through send and markRead", () => {
  it("counts a recipient's messages; the pointer moves forward only", async () => {
    const [a, b] = [await signUp(server), await signUp(server)];
    const m1 = await send(a, { to: b.id, content: "one" });
    const m2 = await send(a, { to: b.id, content: "two" });
    const m3 = await send(a, { to: b.id, content: "three" });
    const id = m1.conversation.id;

    expect(await unread(b)).toBe(3);
    expect(await unreadIn(b, id)).toBe(3);
    expect(await unread(a)).toBe(0);
    expect(await unreadIn(a, id)).toBe(0);
    expect(await pointer(b, id)).toBe(0);

    const r2 = await markRead(b, { messageId: m2.id });
    expect(r2.id).toBe(id);
    expect(r2.unreadCount).toBe(1);
    expect(r2.members.find((m) => m.id === b.id)?.lastReadSeq).toBe(m2.seq);
    expect(await unread(b)).toBe(1);

    // An older message afterwards: nothing moves back.
    const r1 = await markRead(b, { messageId: m1.id });
    expect(r1.unreadCount).toBe(1);
    expect(r1.members.find((m) => m.id === b.id)?.lastReadSeq).toBe(m2.seq);
    expect(await unread(b)).toBe(1);
    expect(await pointer(a, id, b)).toBe(m2.seq);

    const all = await markRead(b, { conversationId: id });
    expect(all.unreadCount).toBe(0);
    expect(all.members.find((m) => m.id === b.id)?.lastReadSeq).toBe(m3.seq);
    expect(await unread(b)).toBe(0);
    expect(await unread(a)).toBe(0);
    // Marking again (either way) keeps everything at zero and the pointer at the end.
    expect((await markRead(b, { messageId: m1.id })).unreadCount).toBe(0);
    expect((await markRead(b, { conversationId: id })).unreadCount).toBe(0);
    expect(await pointer(b, id)).toBe(m3.seq);
  });

  it("sums unread over several conversations; leaving or being removed takes a group out of the total", async () => {
    const [a, b, c] = [await signUp(server), await signUp(server), await signUp(server)];
    const withA = (await send(a, { to: b.id, content: "a1" })).conversation.id;
    await send(a, { to: b.id, content: "a2" });
    const withC = (await send(c, { to: b.username, content: "c1" })).conversation.id;
    await send(c, { to: b.username, content: "c2" });
    await send(c, { to: b.username, content: "c3" });
    const group = await createGroup(a, [b, c]);
    await send(a, { conversationId: group, content: "g1" });
    await send(c, { conversationId: group, content: "g2" });
    await send(c, { conversationId: group, content: "g3" });
    const other = await createGroup(a, [b, c]);
    await send(c, { conversationId: other, content: "o1" });
    await send(c, { conversationId: other, content: "o2" });

    expect([await unreadIn(b, withA), await unreadIn(b, withC), await unreadIn(b, group)]).toEqual([2, 3, 3]);
    expect(await unreadIn(b, other)).toBe(2);
    expect(await unread(b)).toBe(10);
    // a has g2, g3, o1 and o2 (all by c) unread; c's own later sends read everything before them.
    expect(await unread(a)).toBe(4);
    expect(await unreadIn(c, group)).toBe(0); // c sent last, so c has read everything before
    expect(await unread(c)).toBe(0);

    await markRead(b, { conversationId: withC });
    expect(await unread(b)).toBe(7);

    await b.client.ok(LeaveConversationDocument, { conversationId: group });
    expect(await unread(b)).toBe(4);

    await a.client.ok(RemoveMemberDocument, { conversationId: other, userId: b.id });
    expect(await unread(b)).toBe(2);
    expect(await unreadIn(b, withA)).toBe(2);
    // Others' counters are untouched by b leaving.
    expect(await unread(a)).toBe(4);
  });
});

describe("unread counts through delete", () => {
  it("deleting an unread message drops the count; deleting an already-read one changes nothing", async () => {
    const [a, b] = [await signUp(server), await signUp(server)];
    const m1 = await send(a, { to: b.id, content: "one" });
    await send(a, { to: b.id, content: "two" });
    const m3 = await send(a, { to: b.id, content: "three" });
    const id = m1.conversation.id;
    await markRead(b, { messageId: m1.id });
    expect(await unreadIn(b, id)).toBe(2);

    await a.client.ok(DeleteMessageDocument, { id: m1.id }); // already read by b
    expect(await unreadIn(b, id)).toBe(2);
    expect(await unread(b)).toBe(2);
    expect(await pointer(b, id)).toBe(1);

    await a.client.ok(DeleteMessageDocument, { id: m3.id }); // unread
    expect(await unreadIn(b, id)).toBe(1);
    expect(await unread(b)).toBe(1);
    // A repeated delete does not count twice.
    await a.client.ok(DeleteMessageDocument, { id: m3.id });
    expect(await unreadIn(b, id)).toBe(1);
    expect(await unread(a)).toBe(0);

    // Reading to the end recounts without the tombstones.
    expect((await markRead(b, { conversationId: id })).unreadCount).toBe(0);
    const state = await membershipState(id, b.id);
    expect(state).toEqual({ unreadCount: 0, lastReadSeq: 3, expected: 0 });
  });

  it("a moderator's delete drops the count for every member who had not read it, not for the author", async () => {
    const [owner, b, c] = [await signUp(server), await signUp(server), await signUp(server)];
    const group = await createGroup(owner, [b, c]);
    await send(owner, { conversationId: group, content: "hello" });
    const byC = await send(c, { conversationId: group, content: "to be removed" });
    await markRead(b, { conversationId: group });
    const byC2 = await send(c, { conversationId: group, content: "also to be removed" });
    expect([await unreadIn(owner, group), await unreadIn(b, group), await unreadIn(c, group)]).toEqual([
      2, 1, 0,
    ]);

    await owner.client.ok(DeleteMessageDocument, { id: byC.id }); // b had read it, owner had not
    expect([await unreadIn(owner, group), await unreadIn(b, group), await unreadIn(c, group)]).toEqual([
      1, 1, 0,
    ]);
    await owner.client.ok(DeleteMessageDocument, { id: byC2.id }); // nobody had read it
    expect([await unreadIn(owner, group), await unreadIn(b, group), await unreadIn(c, group)]).toEqual([
      0, 0, 0,
    ]);
    expect([await unread(owner), await unread(b), await unread(c)]).toEqual([0, 0, 0]);
  });
});

describe("unread counts through replies and one's own sends", () => {
  it("a reply by the other user counts as unread", async () => {
    const [a, b] = [await signUp(server), await signUp(server)];
    const parent = await send(a, { to: b.id, content: "question" });
    const id = parent.conversation.id;
    await markRead(b, { conversationId: id });
    expect(await unread(b)).toBe(0);

    const { replyToMessage: r1 } = await a.client.ok(ReplyToMessageDocument, {
      parentId: parent.id,
      content: "p.s.",
    });
    expect(await unreadIn(b, id)).toBe(1);
    expect(await unread(b)).toBe(1);
    expect(await unread(a)).toBe(0);

    // Marking the reply itself reads it.
    expect((await markRead(b, { messageId: r1.id })).unreadCount).toBe(0);
    await a.client.ok(ReplyToMessageDocument, { parentId: r1.id, content: "p.p.s." });
    expect(await unread(b)).toBe(1);
  });

  it("one's own messages never count, and sending moves one's pointer to the new message", async () => {
    const [a, b, c] = [await signUp(server), await signUp(server), await signUp(server)];
    await send(a, { to: b.id, content: "1" });
    await send(a, { to: b.id, content: "2" });
    const m3 = await send(a, { to: b.id, content: "3" });
    const id = m3.conversation.id;
    await send(c, { to: b.id, content: "from c" });
    expect(await unreadIn(b, id)).toBe(3);
    expect(await unread(b)).toBe(4);

    const mine = await send(b, { to: a.id, content: "read it all" });
    expect(mine.seq).toBe(4);
    expect(await unreadIn(b, id)).toBe(0);
    expect(await pointer(b, id)).toBe(4);
    expect(await unread(b)).toBe(1); // c's message, in another conversation, is still unread
    expect(await unreadIn(a, id)).toBe(1);

    await send(b, { conversationId: id, content: "again" });
    await b.client.ok(ReplyToMessageDocument, { parentId: m3.id, content: "in a thread" });
    expect(await unreadIn(b, id)).toBe(0);
    expect(await pointer(b, id)).toBe(6);
    expect(await unreadIn(a, id)).toBe(3);
    expect(await unread(a)).toBe(3);

    // In a group, too: b's sends never count for b, while a and c count them.
    const group = await createGroup(a, [b, c]);
    await send(b, { conversationId: group, content: "g1" });
    await send(b, { conversationId: group, content: "g2" });
    expect(await unreadIn(b, group)).toBe(0);
    expect([await unreadIn(a, group), await unreadIn(c, group)]).toEqual([2, 2]);
  });

  it("a member added to a group later starts with everything before read", async () => {
    const [a, b, late] = [await signUp(server), await signUp(server), await signUp(server)];
    const group = await createGroup(a, [b]);
    await send(a, { conversationId: group, content: "before 1" });
    await send(b, { conversationId: group, content: "before 2" });
    await send(a, { conversationId: group, content: "before 3" });

    const added = (
      await a.client.ok(AddMembersDocument, { conversationId: group, memberIds: [late.username] })
    ).addMembers;
    expect(added.members.find((m) => m.id === late.id)?.lastReadSeq).toBe(3);
    expect(await unreadIn(late, group)).toBe(0);
    expect(await unread(late)).toBe(0);
    expect(await pointer(late, group)).toBe(3);

    await send(b, { conversationId: group, content: "after" });
    expect(await unreadIn(late, group)).toBe(1);
    expect(await unread(late)).toBe(1);
  });
});

describe("markRead errors", () => {
  it("refuses one's own message, missing arguments, foreign messages and mismatched conversations", async () => {
    const [a, b, c, d] = [
      await signUp(server),
      await signUp(server),
      await signUp(server),
      await signUp(server),
    ];
    const fromA = await send(a, { to: b.id, content: "for b" });
    const fromB = await send(b, { to: a.id, content: "own" });
    await send(a, { to: b.id, content: "more for b" });
    const id = fromA.conversation.id;
    const foreign = await send(c, { to: d.id, content: "not for b" });
    const otherOfB = (await send(c, { to: b.id, content: "c to b" })).conversation.id;
    const before = await membershipState(id, b.id);
    expect(before).toMatchObject({ unreadCount: 1, lastReadSeq: 2 });

    const own = await b.client.fail(MarkReadForUnreadDocument, { messageId: fromB.id });
    expect([own.code, own.field]).toEqual(["BAD_USER_INPUT", "messageId"]);

    const neither = await b.client.fail(MarkReadForUnreadDocument, {});
    expect(neither.code).toBe("BAD_USER_INPUT");

    expect((await b.client.fail(MarkReadForUnreadDocument, { messageId: foreign.id })).code).toBe(
      "NOT_FOUND",
    );
    expect(
      (await b.client.fail(MarkReadForUnreadDocument, { conversationId: foreign.conversation.id })).code,
    ).toBe("NOT_FOUND");
    expect((await b.client.fail(MarkReadForUnreadDocument, { messageId: randomUUID() })).code).toBe(
      "NOT_FOUND",
    );
    expect((await b.client.fail(MarkReadForUnreadDocument, { conversationId: "garbage" })).code).toBe(
      "NOT_FOUND",
    );

    const mismatch = await b.client.fail(MarkReadForUnreadDocument, {
      messageId: fromA.id,
      conversationId: otherOfB,
    });
    expect(mismatch.code).toBe("BAD_USER_INPUT");

    // None of them moved a pointer or a counter.
    expect(await membershipState(id, b.id)).toEqual(before);
    expect(await unreadIn(b, otherOfB)).toBe(1);
    expect(await unread(b)).toBe(2);
    expect(await unreadIn(d, foreign.conversation.id)).toBe(1);
  });
});

describe("readBy", () => {
  it("lists members whose pointer passed the message, never the sender, growing as they read", async () => {
    const [a, b, c, d] = [
      await signUp(server),
      await signUp(server),
      await signUp(server),
      await signUp(server),
    ];
    const group = await createGroup(a, [b, c, d]);
    const m1 = await send(a, { conversationId: group, content: "one" });
    const m2 = await send(a, { conversationId: group, content: "two" });

    expect(await readBy(a, m1.id)).toEqual([]);
    expect(await readBy(b, m2.id)).toEqual([]);

    await markRead(b, { messageId: m1.id });
    expect(await readBy(a, m1.id)).toEqual([b.id]);
    expect(await readBy(c, m2.id)).toEqual([]);

    await markRead(c, { conversationId: group });
    expect(await readBy(a, m1.id)).toEqual([b.id, c.id].sort());
    expect(await readBy(a, m2.id)).toEqual([c.id]);

    // d sending reads everything before d's message; the sender of m3 is not among its readers.
    const m3 = await send(d, { conversationId: group, content: "three" });
    expect(await readBy(b, m1.id)).toEqual([b.id, c.id, d.id].sort());
    expect(await readBy(b, m3.id)).toEqual([]);
    expect(await readBy(a, m2.id)).not.toContain(a.id);

    await markRead(a, { messageId: m3.id });
    expect(await readBy(d, m3.id)).toEqual([a.id]);

    // Members who left are no longer listed.
    await c.client.ok(LeaveConversationDocument, { conversationId: group });
    expect(await readBy(a, m1.id)).toEqual([b.id, d.id].sort());
    const { message } = await b.client.ok(ReadByForUnreadDocument, { id: m1.id });
    expect(message?.readBy.every((m) => m.lastReadSeq >= m1.seq)).toBe(true);
  });
});

describe("unread counters under concurrency", () => {
  it("concurrent sends and markRead(conversationId) leave the counter equal to a recount", async () => {
    const [a, b] = [await signUp(server), await signUp(server)];
    const id = (await send(a, { to: b.id, content: "start" })).conversation.id;
    for (let round = 0; round < 3; round++) {
      await Promise.all([
        ...Array.from({ length: 20 }, (_, i) => send(a, { conversationId: id, content: `r${round} m${i}` })),
        ...Array.from({ length: 5 }, () => markRead(b, { conversationId: id })),
      ]);
      const state = await membershipState(id, b.id);
      const bySql = await sql.count(
        `SELECT count(*)::int AS n FROM "Message"
          WHERE "conversationId" = $1::uuid AND "senderId" = $2::uuid AND seq > $3 AND "deletedAt" IS NULL`,
        [id, a.id, state.lastReadSeq],
      );
      expect(state.unreadCount).toBe(bySql);
      expect(state.expected).toBe(bySql);
      expect(await unreadIn(b, id)).toBe(bySql);
      expect(await unread(b)).toBe(bySql);
    }
    expect((await markRead(b, { conversationId: id })).unreadCount).toBe(0);
    expect(await membershipState(id, b.id)).toMatchObject({ unreadCount: 0, lastReadSeq: 61, expected: 0 });
  });

  it("concurrent sends, deletes and reads in a group keep every member's counter exact", async () => {
    const [a, b, c] = [await signUp(server), await signUp(server), await signUp(server)];
    const group = await createGroup(a, [b, c]);
    const early = [];
    for (let i = 0; i < 10; i++) early.push(await send(a, { conversationId: group, content: `early ${i}` }));
    await Promise.all([
      ...Array.from({ length: 10 }, (_, i) =>
        send(i % 2 ? a : c, { conversationId: group, content: `late ${i}` }),
      ),
      ...early.filter((_, i) => i % 2 === 0).map((m) => a.client.ok(DeleteMessageDocument, { id: m.id })),
      ...Array.from({ length: 4 }, () => markRead(b, { conversationId: group })),
      markRead(c, { messageId: early[3]?.id ?? "" }),
    ]);
    for (const user of [a, b, c]) {
      const state = await membershipState(group, user.id);
      expect({ user: user.username, count: state.unreadCount }).toEqual({
        user: user.username,
        count: state.expected,
      });
      expect(await unreadIn(user, group)).toBe(state.expected);
    }
  });
});
