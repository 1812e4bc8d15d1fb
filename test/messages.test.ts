import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  ChatWithDetailsDocument,
  ConversationMessagesWithDetailsDocument,
  DeleteMessageDocument,
  EditMessageDocument,
  LeaveConversationDocument,
  MessageWithDetailsDocument,
  ReplyToMessageDocument,
  SendMessageDocument,
  SetMemberRoleDocument,
} from "./gql/graphql.ts";
import { createGroup, type SendVars, send } from "./helpers/actions.ts";
import { signUp, startServer, type TestUser, uniqueName, useServer } from "./helpers/server.ts";
import { useSql } from "./helpers/sql.ts";

const server = useServer();
const sql = useSql();

const reply = async (user: TestUser, parentId: string, content: string) =>
  (await user.client.ok(ReplyToMessageDocument, { parentId, content })).replyToMessage;

const getMessage = async (user: TestUser, id: string) =>
  (await user.client.ok(MessageWithDetailsDocument, { id })).message;

async function conversationMessages(user: TestUser, id: string) {
  const { conversation } = await user.client.ok(ConversationMessagesWithDetailsDocument, { id, first: 100 });
  if (!conversation) throw new Error("conversation missing");
  return conversation;
}

describe("sendMessage: happy paths", () => {
  it("sends by username and by id into one direct conversation, shared by both orders of the pair", async () => {
    const [a, b] = [await signUp(server), await signUp(server)];
    const m1 = await send(a, { to: b.username, content: "hi by name" });
    expect(m1).toMatchObject({ seq: 1, content: "hi by name", sender: { id: a.id }, isDeleted: false });
    expect(m1.conversation.kind).toBe("DIRECT");
    const conversationId = m1.conversation.id;

    const m2 = await send(a, { to: b.id, content: "hi by id" });
    expect(m2.conversation.id).toBe(conversationId);
    expect(m2.seq).toBe(2);

    const m3 = await send(b, { to: a.username, content: "hello back" });
    expect(m3.conversation.id).toBe(conversationId);
    expect(m3.seq).toBe(3);
    const m4 = await send(b, { to: a.id, content: "and by id" });
    expect(m4.conversation.id).toBe(conversationId);
    expect(m4.seq).toBe(4);

    // Exactly one DIRECT conversation holds both users.
    const directs = await sql.count(
      `SELECT count(*)::int AS n FROM "Conversation" c
        WHERE c.kind = 'DIRECT'
          AND EXISTS (SELECT 1 FROM "Membership" m WHERE m."conversationId" = c.id AND m."userId" = $1::uuid)
          AND EXISTS (SELECT 1 FROM "Membership" m WHERE m."conversationId" = c.id AND m."userId" = $2::uuid)`,
      [a.id, b.id],
    );
    expect(directs).toBe(1);
    expect(await sql.messageCount(conversationId)).toBe(4);

    const { chat } = await b.client.ok(ChatWithDetailsDocument, { with: a.username, first: 10 });
    expect(chat.totalCount).toBe(4);
    expect(chat.nodes.map((n) => n.id)).toEqual([m4.id, m3.id, m2.id, m1.id]);
  });

  it("opens one direct conversation when both users send their first message at the same time", async () => {
    const [a, b] = [await signUp(server), await signUp(server)];
    const sent = await Promise.all([
      send(a, { to: b.id, content: "a first" }),
      send(b, { to: a.id, content: "b first" }),
      send(a, { to: b.username, content: "a second" }),
      send(b, { to: a.username, content: "b second" }),
    ]);
    const ids = new Set(sent.map((m) => m.conversation.id));
    expect(ids.size).toBe(1);
    expect(sent.map((m) => m.seq).sort()).toEqual([1, 2, 3, 4]);
  });

  it("sends into a group by conversationId, every member sees it", async () => {
    const [a, b, c] = [await signUp(server), await signUp(server), await signUp(server)];
    const groupId = await createGroup(a, [b, c]);
    const m1 = await send(b, { conversationId: groupId, content: "hello group" });
    expect(m1).toMatchObject({ seq: 1, content: "hello group", sender: { id: b.id } });
    expect(m1.conversation).toEqual({ id: groupId, kind: "GROUP" });
    const m2 = await send(a, { conversationId: groupId, content: "hi b" });
    expect(m2.seq).toBe(2);
    const seen = await conversationMessages(c, groupId);
    expect(seen.lastSeq).toBe(2);
    expect(seen.messages.nodes.map((n) => [n.id, n.content])).toEqual([
      [m2.id, "hi b"],
      [m1.id, "hello group"],
    ]);
  });

  it("trims content", async () => {
    const [a, b] = [await signUp(server), await signUp(server)];
    const m = await send(a, { to: b.id, content: "  \n\t padded text \n " });
    expect(m.content).toBe("padded text");
    expect((await getMessage(b, m.id))?.content).toBe("padded text");
    const [row] = await sql.query<{ content: string }>(`SELECT content FROM "Message" WHERE id = $1::uuid`, [
      m.id,
    ]);
    expect(row?.content).toBe("padded text");
  });
});

describe("sendMessage: errors write nothing", () => {
  it("rejects bad targets and bad content with the right codes and leaves no row behind", async () => {
    const [a, b, c, d] = [
      await signUp(server),
      await signUp(server),
      await signUp(server),
      await signUp(server),
    ];
    const direct = await send(a, { to: b.id, content: "setup" });
    const directId = direct.conversation.id;
    const foreignGroup = await createGroup(c, [d]); // a is not in it
    await send(c, { conversationId: foreignGroup, content: "setup in foreign group" });
    const ownGroup = await createGroup(a, [b]);

    const before = {
      byA: await sql.messagesBySender(a.id),
      direct: await sql.messageCount(directId),
      foreign: await sql.messageCount(foreignGroup),
      own: await sql.messageCount(ownGroup),
    };
    expect(before).toEqual({ byA: 1, direct: 1, foreign: 1, own: 0 });

    const cases: [SendVars, string, string | undefined][] = [
      [{ to: b.id, conversationId: directId, content: "both" }, "BAD_USER_INPUT", "to"],
      [{ to: b.username, conversationId: ownGroup, content: "both" }, "BAD_USER_INPUT", "to"],
      [{ content: "neither" }, "BAD_USER_INPUT", "to"],
      [{ to: a.id, content: "to myself by id" }, "BAD_USER_INPUT", "to"],
      [{ to: a.username, content: "to myself by name" }, "BAD_USER_INPUT", "to"],
      [{ to: uniqueName("ghost"), content: "unknown name" }, "NOT_FOUND", undefined],
      [{ to: randomUUID(), content: "unknown id" }, "NOT_FOUND", undefined],
      [{ conversationId: foreignGroup, content: "not my group" }, "NOT_FOUND", undefined],
      [{ conversationId: randomUUID(), content: "no such conversation" }, "NOT_FOUND", undefined],
      [{ to: b.id, content: "" }, "BAD_USER_INPUT", "content"],
      [{ to: b.id, content: "   \n\t  " }, "BAD_USER_INPUT", "content"],
      [{ conversationId: ownGroup, content: "  " }, "BAD_USER_INPUT", "content"],
      [{ to: b.id, content: "x".repeat(10_001) }, "BAD_USER_INPUT", "content"],
      [{ conversationId: ownGroup, content: "y".repeat(10_001) }, "BAD_USER_INPUT", "content"],
    ];
    for (const [vars, code, field] of cases) {
      const r = await a.client.fail(SendMessageDocument, vars);
      // Soft, so one wrong answer still lets every other case (and the row check below) report.
      const label = JSON.stringify({ ...vars, content: vars.content.slice(0, 24) });
      expect.soft(r.code, label).toBe(code);
      if (field) expect.soft(r.field, label).toBe(field);
      expect(r.result.data?.sendMessage ?? null).toBeNull();
    }

    const after = {
      byA: await sql.messagesBySender(a.id),
      direct: await sql.messageCount(directId),
      foreign: await sql.messageCount(foreignGroup),
      own: await sql.messageCount(ownGroup),
    };
    expect(after).toEqual(before);
    // No conversation was opened with the user themselves either.
    const selfDirect = await sql.count(
      `SELECT count(*)::int AS n FROM "Conversation" WHERE "directKey" = $1`,
      [`${a.id}:${a.id}`],
    );
    expect(selfDirect).toBe(0);
    // The conversations' seq counters did not move (no seq burnt by a failed send).
    expect((await conversationMessages(a, directId)).lastSeq).toBe(1);
    expect((await conversationMessages(a, ownGroup)).lastSeq).toBe(0);
  });

  it("answers a malformed conversationId with NOT_FOUND, like an unknown one, and writes nothing", async () => {
    const [a, b] = [await signUp(server), await signUp(server)];
    await send(a, { to: b.id, content: "setup" });
    const before = await sql.messagesBySender(a.id);
    const unknown = await a.client.fail(SendMessageDocument, { conversationId: randomUUID(), content: "x" });
    expect(unknown.code).toBe("NOT_FOUND");
    for (const conversationId of ["not-a-uuid", "12345", `${randomUUID()}x`]) {
      const r = await a.client.fail(SendMessageDocument, { conversationId, content: "malformed" });
      expect.soft(r.code, conversationId).toBe("NOT_FOUND");
      expect.soft(r.error.message, conversationId).toBe(unknown.error.message);
    }
    expect(await sql.messagesBySender(a.id)).toBe(before);
  });

  it("accepts content of exactly the default limit (10000)", async () => {
    const [a, b] = [await signUp(server), await signUp(server)];
    const m = await send(a, { to: b.id, content: "z".repeat(10_000) });
    expect(m.content).toHaveLength(10_000);
  });

  it("enforces a configured MAX_MESSAGE_LENGTH, counting the trimmed content", async () => {
    const small = await startServer({ MAX_MESSAGE_LENGTH: "20" });
    const [a, b] = [await signUp(small), await signUp(small)];
    const exact = await send(a, { to: b.id, content: "a".repeat(20) });
    expect(exact.content).toBe("a".repeat(20));
    const padded = await send(a, { to: b.id, content: `   ${"b".repeat(20)}   ` });
    expect(padded.content).toBe("b".repeat(20));
    const conversationId = exact.conversation.id;
    const before = await sql.messageCount(conversationId);
    expect(before).toBe(2);

    const tooLong = await a.client.fail(SendMessageDocument, { to: b.id, content: "c".repeat(21) });
    expect(tooLong.code).toBe("BAD_USER_INPUT");
    expect(tooLong.field).toBe("content");
    const tooLongInGroup = await a.client.fail(SendMessageDocument, {
      conversationId,
      content: `${"d".repeat(21)}`,
    });
    expect(tooLongInGroup.code).toBe("BAD_USER_INPUT");
    expect(tooLongInGroup.field).toBe("content");
    // Replies and edits obey the same limit.
    const longReply = await a.client.fail(ReplyToMessageDocument, {
      parentId: exact.id,
      content: "e".repeat(21),
    });
    expect([longReply.code, longReply.field]).toEqual(["BAD_USER_INPUT", "content"]);
    const longEdit = await a.client.fail(EditMessageDocument, { id: exact.id, content: "f".repeat(21) });
    expect([longEdit.code, longEdit.field]).toEqual(["BAD_USER_INPUT", "content"]);
    expect(await sql.messageCount(conversationId)).toBe(before);
    expect((await getMessage(a, exact.id))?.content).toBe("a".repeat(20));

    // The default server (10000) still takes 21 characters: the limit is per configuration.
    const [x, y] = [await signUp(server), await signUp(server)];
    expect((await send(x, { to: y.id, content: "g".repeat(21) })).content).toHaveLength(21);
  });
});

describe("sendMessage: idempotency (clientMessageId)", () => {
  it("returns the first message for a repeated clientMessageId, without a second row", async () => {
    const [a, b] = [await signUp(server), await signUp(server)];
    const clientMessageId = `cm-${randomUUID()}`;
    const first = await send(a, { to: b.id, content: "once", clientMessageId });
    expect(first.clientMessageId).toBe(clientMessageId);
    const again = await send(a, { to: b.id, content: "once", clientMessageId });
    expect(again.id).toBe(first.id);
    expect(again.seq).toBe(first.seq);
    // Even with other content, the key wins: the first message comes back unchanged.
    const changed = await send(a, { to: b.username, content: "different text", clientMessageId });
    expect(changed.id).toBe(first.id);
    expect(changed.content).toBe("once");
    expect(await sql.messageCount(first.conversation.id)).toBe(1);
    // The recipient does not see the sender's key.
    expect((await getMessage(b, first.id))?.clientMessageId).toBeNull();
  });

  it("10 concurrent sends with one clientMessageId make exactly one row, one id, and no seq gap", async () => {
    const [a, b] = [await signUp(server), await signUp(server)];
    const setup = await send(a, { to: b.id, content: "before" });
    const conversationId = setup.conversation.id;
    const clientMessageId = `burst-${randomUUID()}`;
    const results = await Promise.all(
      Array.from({ length: 10 }, () => send(a, { conversationId, content: "burst", clientMessageId })),
    );
    const ids = new Set(results.map((m) => m.id));
    expect(ids.size).toBe(1);
    expect(results.every((m) => m.seq === 2)).toBe(true);
    expect(
      await sql.count(
        `SELECT count(*)::int AS n FROM "Message" WHERE "senderId" = $1::uuid AND "clientMessageId" = $2`,
        [a.id, clientMessageId],
      ),
    ).toBe(1);
    expect(await sql.messageCount(conversationId)).toBe(2);

    const next = await send(b, { conversationId, content: "after" });
    expect(next.seq).toBe(3);
    const seqs = await sql.query<{ seq: number }>(
      `SELECT seq FROM "Message" WHERE "conversationId" = $1::uuid ORDER BY seq`,
      [conversationId],
    );
    expect(seqs.map((r) => r.seq)).toEqual([1, 2, 3]);
    expect((await conversationMessages(a, conversationId)).lastSeq).toBe(3);
  });

  it("keys are per sender: two senders may use the same clientMessageId", async () => {
    const [a, b] = [await signUp(server), await signUp(server)];
    const clientMessageId = `shared-${randomUUID()}`;
    const fromA = await send(a, { to: b.id, content: "from a", clientMessageId });
    const fromB = await send(b, { to: a.id, content: "from b", clientMessageId });
    expect(fromB.id).not.toBe(fromA.id);
    expect(fromB.seq).toBe(2);
  });
});

describe("sendMessage: seq under concurrency", () => {
  it("30 parallel sends from two users give seqs exactly 1..30", async () => {
    const [a, b, c] = [await signUp(server), await signUp(server), await signUp(server)];
    const groupId = await createGroup(a, [b, c]);
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        send(i % 2 ? b : a, { conversationId: groupId, content: `parallel ${i}` }),
      ),
    );
    const seqs = results.map((m) => m.seq).sort((x, y) => x - y);
    expect(seqs).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(new Set(results.map((m) => m.id)).size).toBe(30);
    const rows = await sql.query<{ seq: number }>(
      `SELECT seq FROM "Message" WHERE "conversationId" = $1::uuid ORDER BY seq`,
      [groupId],
    );
    expect(rows.map((r) => r.seq)).toEqual(seqs);
    const conversation = await conversationMessages(c, groupId);
    expect(conversation.lastSeq).toBe(30);
    expect(conversation.messages.totalCount).toBe(30);
  });
});

describe("replyToMessage", () => {
  it("updates the parent's replyCount/lastReplyAt; a reply to a reply joins the top-level thread", async () => {
    const [a, b] = [await signUp(server), await signUp(server)];
    const groupId = await createGroup(a, [b]);
    const parent = await send(a, { conversationId: groupId, content: "thread start" });
    expect(parent).toMatchObject({ replyCount: 0, lastReplyAt: null, parent: null });

    const r1 = await reply(b, parent.id, "  first reply  ");
    expect(r1).toMatchObject({ seq: 2, content: "first reply", parent: { id: parent.id }, replyCount: 0 });
    expect(r1.conversation.id).toBe(groupId);
    const afterOne = await getMessage(a, parent.id);
    expect(afterOne?.replyCount).toBe(1);
    expect(afterOne?.lastReplyAt).not.toBeNull();

    const r2 = await reply(a, r1.id, "reply to the reply");
    expect(r2.parent?.id).toBe(parent.id);
    expect(r2.seq).toBe(3);
    const afterTwo = await getMessage(b, parent.id);
    expect(afterTwo?.replyCount).toBe(2);
    expect(Date.parse(afterTwo?.lastReplyAt ?? "")).toBeGreaterThanOrEqual(
      Date.parse(afterOne?.lastReplyAt ?? ""),
    );
    expect(afterTwo?.replies.totalCount).toBe(2);
    expect(afterTwo?.replies.nodes.map((n) => n.id)).toEqual([r2.id, r1.id]);
    expect(afterTwo?.replies.nodes.every((n) => n.parent?.id === parent.id)).toBe(true);
    // The reply that was replied to did not start a thread of its own.
    const r1Now = await getMessage(a, r1.id);
    expect(r1Now?.replyCount).toBe(0);
    expect(r1Now?.replies.totalCount).toBe(0);

    // Replies live in the thread, not in the top-level history.
    const top = await send(b, { conversationId: groupId, content: "top level again" });
    expect(top.seq).toBe(4);
    const history = await conversationMessages(a, groupId);
    expect(history.lastSeq).toBe(4);
    expect(history.messages.totalCount).toBe(2);
    expect(history.messages.nodes.map((n) => n.id)).toEqual([top.id, parent.id]);
  });

  it("replies in a direct conversation appear in message.replies, not in chat", async () => {
    const [a, b] = [await signUp(server), await signUp(server)];
    const parent = await send(a, { to: b.id, content: "question" });
    const r = await reply(b, parent.id, "answer");
    expect(r.parent?.id).toBe(parent.id);
    const { chat } = await a.client.ok(ChatWithDetailsDocument, { with: b.username, first: 10 });
    expect(chat.totalCount).toBe(1);
    expect(chat.nodes.map((n) => n.id)).toEqual([parent.id]);
    expect(chat.nodes[0]?.replyCount).toBe(1);
    const thread = await getMessage(a, parent.id);
    expect(thread?.replies.nodes.map((n) => n.id)).toEqual([r.id]);
  });

  it("refuses replies by outsiders (NOT_FOUND) and bad content (BAD_USER_INPUT), writing nothing", async () => {
    const [a, b, outsider] = [await signUp(server), await signUp(server), await signUp(server)];
    const parent = await send(a, { to: b.id, content: "private" });
    const before = await sql.messageCount(parent.conversation.id);
    expect(
      (await outsider.client.fail(ReplyToMessageDocument, { parentId: parent.id, content: "x" })).code,
    ).toBe("NOT_FOUND");
    const empty = await b.client.fail(ReplyToMessageDocument, { parentId: parent.id, content: "   " });
    expect([empty.code, empty.field]).toEqual(["BAD_USER_INPUT", "content"]);
    expect((await b.client.fail(ReplyToMessageDocument, { parentId: "nope", content: "x" })).code).toBe(
      "NOT_FOUND",
    );
    expect(await sql.messageCount(parent.conversation.id)).toBe(before);
    expect((await getMessage(a, parent.id))?.replyCount).toBe(0);
  });
});

describe("editMessage", () => {
  it("lets the author edit: editedAt set, revisions oldest first, everyone sees the new content", async () => {
    const [a, b] = [await signUp(server), await signUp(server)];
    const m = await send(a, { to: b.id, content: "v1" });
    expect(m.editedAt).toBeNull();
    expect((await getMessage(a, m.id))?.revisions).toEqual([]);
    const e1 = (await a.client.ok(EditMessageDocument, { id: m.id, content: "  v2  " })).editMessage;
    expect(e1.content).toBe("v2");
    expect(e1.editedAt).not.toBeNull();
    expect(e1.revisions.map((r) => r.content)).toEqual(["v1"]);
    const e2 = (await a.client.ok(EditMessageDocument, { id: m.id, content: "v3" })).editMessage;
    expect(e2.content).toBe("v3");
    expect(e2.revisions.map((r) => r.content)).toEqual(["v1", "v2"]);
    expect(e2.id).toBe(m.id);
    expect(e2.seq).toBe(m.seq);

    const seen = await getMessage(b, m.id);
    expect(seen?.content).toBe("v3");
    expect(seen?.editedAt).not.toBeNull();
    expect(seen?.revisions.map((r) => r.content)).toEqual(["v1", "v2"]);
    expect(await sql.messageCount(m.conversation.id)).toBe(1);
  });

  it("answers FORBIDDEN to another member, NOT_FOUND to an outsider, BAD_USER_INPUT to bad content", async () => {
    const [a, b, outsider] = [await signUp(server), await signUp(server), await signUp(server)];
    const groupId = await createGroup(a, [b]);
    const m = await send(a, { conversationId: groupId, content: "original" });

    expect((await b.client.fail(EditMessageDocument, { id: m.id, content: "hijack" })).code).toBe(
      "FORBIDDEN",
    );
    expect((await outsider.client.fail(EditMessageDocument, { id: m.id, content: "hijack" })).code).toBe(
      "NOT_FOUND",
    );
    expect((await a.client.fail(EditMessageDocument, { id: randomUUID(), content: "x" })).code).toBe(
      "NOT_FOUND",
    );
    expect((await a.client.fail(EditMessageDocument, { id: "bogus", content: "x" })).code).toBe("NOT_FOUND");
    for (const content of ["", "   \n "]) {
      const r = await a.client.fail(EditMessageDocument, { id: m.id, content });
      expect([r.code, r.field]).toEqual(["BAD_USER_INPUT", "content"]);
    }
    const tooLong = await a.client.fail(EditMessageDocument, { id: m.id, content: "x".repeat(10_001) });
    expect([tooLong.code, tooLong.field]).toEqual(["BAD_USER_INPUT", "content"]);

    const now = await getMessage(a, m.id);
    expect(now?.content).toBe("original");
    expect(now?.editedAt).toBeNull();
    expect(now?.revisions).toEqual([]);
  });

  it("refuses to edit a deleted message with CONFLICT", async () => {
    const [a, b] = [await signUp(server), await signUp(server)];
    const m = await send(a, { to: b.id, content: "soon gone" });
    await a.client.ok(DeleteMessageDocument, { id: m.id });
    const r = await a.client.fail(EditMessageDocument, { id: m.id, content: "revive" });
    expect(r.code).toBe("CONFLICT");
    const now = await getMessage(a, m.id);
    expect(now?.content).toBeNull();
    expect(now?.revisions).toEqual([]);
  });
});

describe("deleteMessage", () => {
  it("lets the author delete; the tombstone keeps its place in chat history with revisions emptied", async () => {
    const [a, b] = [await signUp(server), await signUp(server)];
    const m1 = await send(a, { to: b.id, content: "one" });
    const m2 = await send(a, { to: b.id, content: "two" });
    const m3 = await send(b, { to: a.id, content: "three" });
    await a.client.ok(EditMessageDocument, { id: m2.id, content: "two, edited" });

    const deleted = (await a.client.ok(DeleteMessageDocument, { id: m2.id })).deleteMessage;
    expect(deleted).toMatchObject({ id: m2.id, seq: 2, content: null, isDeleted: true, revisions: [] });
    expect(deleted.deletedAt).not.toBeNull();

    const { chat } = await b.client.ok(ChatWithDetailsDocument, { with: a.id, first: 10 });
    expect(chat.totalCount).toBe(3);
    expect(chat.nodes.map((n) => [n.id, n.seq, n.content, n.isDeleted])).toEqual([
      [m3.id, 3, "three", false],
      [m2.id, 2, null, true],
      [m1.id, 1, "one", false],
    ]);
    expect(chat.nodes[1]?.revisions).toEqual([]);
    const [row] = await sql.query<{ content: string | null; revisions: number }>(
      `SELECT content, (SELECT count(*)::int FROM "MessageRevision" r WHERE r."messageId" = m.id) AS revisions
         FROM "Message" m WHERE id = $1::uuid`,
      [m2.id],
    );
    expect(row).toEqual({ content: null, revisions: 0 });

    // A repeat delete is a no-op success.
    const again = (await a.client.ok(DeleteMessageDocument, { id: m2.id })).deleteMessage;
    expect(again).toMatchObject({ id: m2.id, isDeleted: true, content: null, deletedAt: deleted.deletedAt });
    expect(await sql.messageCount(m1.conversation.id)).toBe(3);

    // New messages continue after the tombstone's seq.
    expect((await send(a, { to: b.id, content: "four" })).seq).toBe(4);
  });

  it("group OWNER and ADMIN may delete others' messages; a plain MEMBER may not; outsiders get NOT_FOUND", async () => {
    const [owner, admin, member, other, outsider] = [
      await signUp(server),
      await signUp(server),
      await signUp(server),
      await signUp(server),
      await signUp(server),
    ];
    const groupId = await createGroup(owner, [admin, member, other]);
    await owner.client.ok(SetMemberRoleDocument, {
      conversationId: groupId,
      userId: admin.id,
      role: "ADMIN",
    });

    const byMember = await send(member, { conversationId: groupId, content: "member's 1" });
    const byMember2 = await send(member, { conversationId: groupId, content: "member's 2" });
    const byOther = await send(other, { conversationId: groupId, content: "other's" });
    const byOwner = await send(owner, { conversationId: groupId, content: "owner's" });

    const plain = await member.client.fail(DeleteMessageDocument, { id: byOther.id });
    expect(plain.code).toBe("FORBIDDEN");
    expect((await member.client.fail(DeleteMessageDocument, { id: byOwner.id })).code).toBe("FORBIDDEN");
    expect((await outsider.client.fail(DeleteMessageDocument, { id: byOther.id })).code).toBe("NOT_FOUND");
    expect((await getMessage(owner, byOther.id))?.isDeleted).toBe(false);
    expect((await getMessage(owner, byOwner.id))?.isDeleted).toBe(false);

    const byOwnerDelete = (await owner.client.ok(DeleteMessageDocument, { id: byMember.id })).deleteMessage;
    expect(byOwnerDelete).toMatchObject({ id: byMember.id, isDeleted: true, content: null });
    const byAdminDelete = (await admin.client.ok(DeleteMessageDocument, { id: byMember2.id })).deleteMessage;
    expect(byAdminDelete).toMatchObject({ id: byMember2.id, isDeleted: true, content: null });

    const history = await conversationMessages(other, groupId);
    expect(history.messages.nodes.map((n) => [n.seq, n.isDeleted])).toEqual([
      [4, false],
      [3, false],
      [2, true],
      [1, true],
    ]);
  });

  it("in a direct conversation the other party may not delete (FORBIDDEN)", async () => {
    const [a, b] = [await signUp(server), await signUp(server)];
    const m = await send(a, { to: b.id, content: "mine" });
    expect((await b.client.fail(DeleteMessageDocument, { id: m.id })).code).toBe("FORBIDDEN");
    expect((await a.client.fail(DeleteMessageDocument, { id: "not-an-id" })).code).toBe("NOT_FOUND");
    expect((await a.client.fail(DeleteMessageDocument, { id: randomUUID() })).code).toBe("NOT_FOUND");
    expect((await getMessage(b, m.id))?.content).toBe("mine");
  });

  it("tombstones stay in threads, and a deleted parent keeps its replies", async () => {
    const [a, b] = [await signUp(server), await signUp(server)];
    const groupId = await createGroup(a, [b]);
    const parent = await send(a, { conversationId: groupId, content: "parent" });
    const r1 = await reply(b, parent.id, "reply one");
    const r2 = await reply(a, parent.id, "reply two");

    await b.client.ok(DeleteMessageDocument, { id: r1.id });
    await a.client.ok(DeleteMessageDocument, { id: parent.id });

    const thread = await getMessage(b, parent.id);
    expect(thread).toMatchObject({ content: null, isDeleted: true, replyCount: 2 });
    expect(thread?.replies.totalCount).toBe(2);
    expect(thread?.replies.nodes.map((n) => [n.id, n.content, n.isDeleted])).toEqual([
      [r2.id, "reply two", false],
      [r1.id, null, true],
    ]);
    // The deleted parent still holds its place in the history.
    const history = await conversationMessages(b, groupId);
    expect(history.messages.totalCount).toBe(1);
    expect(history.messages.nodes.map((n) => [n.id, n.isDeleted])).toEqual([[parent.id, true]]);
    // Replying to a reply of a deleted parent still lands in its thread.
    const r3 = await reply(b, r2.id, "reply three");
    expect(r3.parent?.id).toBe(parent.id);
    expect((await getMessage(a, parent.id))?.replyCount).toBe(3);
  });
});

describe("message(id)", () => {
  it("shows a message to members; outsiders, unknown and malformed ids get the same NOT_FOUND", async () => {
    const [a, b, outsider] = [await signUp(server), await signUp(server), await signUp(server)];
    const m = await send(a, { to: b.id, content: "visible to us" });
    const seen = await getMessage(b, m.id);
    expect(seen).toMatchObject({ id: m.id, content: "visible to us", sender: { id: a.id }, seq: 1 });
    expect((await getMessage(a, m.id))?.clientMessageId).toBeNull();

    const hidden = await outsider.client.fail(MessageWithDetailsDocument, { id: m.id });
    const unknown = await outsider.client.fail(MessageWithDetailsDocument, { id: randomUUID() });
    const malformed = await outsider.client.fail(MessageWithDetailsDocument, { id: "definitely-not-a-uuid" });
    const unknownForMember = await b.client.fail(MessageWithDetailsDocument, { id: randomUUID() });
    for (const r of [hidden, unknown, malformed, unknownForMember]) {
      expect(r.code).toBe("NOT_FOUND");
      expect(r.error.message).toBe(hidden.error.message);
      expect(r.result.data?.message ?? null).toBeNull();
    }
    // A member who left no longer sees it either.
    const groupId = await createGroup(a, [b]);
    const g = await send(a, { conversationId: groupId, content: "group msg" });
    expect((await getMessage(b, g.id))?.id).toBe(g.id);
    await b.client.ok(LeaveConversationDocument, { conversationId: groupId });
    const left = await b.client.fail(MessageWithDetailsDocument, { id: g.id });
    expect(left.code).toBe("NOT_FOUND");
    expect(left.error.message).toBe(hidden.error.message);
  });
});
