// Idempotent replays of clientMessageId: the key stands for ONE message in ONE place. The same key
// to the same place (sendMessage to the same user or conversation, replyToMessage under the same
// thread) returns the first message. The same key aimed at another conversation is a CONFLICT naming
// the field (extensions.field "clientMessageId"), not the first message of some other conversation,
// and writes nothing. scheduleMessage with a key that an already sent message holds is refused at
// schedule time (CONFLICT, field clientMessageId) whatever its target: otherwise it would "fire"
// by replaying the older message and be recorded FIRED without ever sending anything.
import { beforeAll, describe, expect, it } from "vitest";
import {
  CancelScheduledDocument,
  ReplyToMessageDocument,
  ScheduleMessageDocument,
  SendMessageDocument,
} from "./gql/graphql.ts";
import { createGroup, send } from "./helpers/actions.ts";
import { signUp, type TestUser, uniqueName, useServer } from "./helpers/server.ts";
import { useSql } from "./helpers/sql.ts";

const server = useServer({ RATE_LIMIT_SEND_PER_SECOND: "1000" });
const sql = useSql();
let u: TestUser; // the sender whose keys are replayed
let v: TestUser; // U's direct partner: the first message goes to V
let w: TestUser; // a user U never wrote to
let x: TestUser; // a user U has a direct conversation with, opened without a key
let groupId: string; // a group of V with U and W
let direct: { conversationId: string; messageId: string; content: string; key: string };
let groupMessageId: string; // V's message in the group
let reply: { id: string; content: string; key: string }; // U's keyed reply under groupMessageId
let directWithX: string;

const inMinutes = (m: number) => new Date(Date.now() + m * 60_000).toISOString();

beforeAll(async () => {
  u = await signUp(server, "idr_u");
  v = await signUp(server, "idr_v");
  w = await signUp(server, "idr_w");
  x = await signUp(server, "idr_x");
  groupId = await createGroup(v, [u, w]);
  const key = uniqueName("cmid");
  const content = uniqueName("first");
  const first = await send(u, { to: v.username, content, clientMessageId: key });
  direct = { conversationId: first.conversation.id, messageId: first.id, content, key };
  groupMessageId = (await send(v, { conversationId: groupId, content: uniqueName("group") })).id;
  const replyKey = uniqueName("cmid");
  const replyContent = uniqueName("reply");
  const { replyToMessage } = await u.client.ok(ReplyToMessageDocument, {
    parentId: groupMessageId,
    content: replyContent,
    clientMessageId: replyKey,
  });
  reply = { id: replyToMessage.id, content: replyContent, key: replyKey };
  directWithX = (await send(u, { to: x.username, content: "hello x" })).conversation.id;
});

/** Everything U's refused replays could have written. */
async function writes() {
  const [row] = await sql.query<{ snap: unknown }>(
    `SELECT json_build_object(
       'messages', (SELECT count(*)::int FROM "Message" WHERE "senderId" = $1::uuid),
       'scheduled', (SELECT count(*)::int FROM "ScheduledMessage" WHERE "senderId" = $1::uuid),
       'conversations', (SELECT json_agg(m."conversationId" ORDER BY m."conversationId")
                         FROM "Membership" m WHERE m."userId" = $1::uuid),
       'seqs', (SELECT json_agg(json_build_object('id', c.id, 'lastSeq', c."lastSeq") ORDER BY c.id)
                FROM "Conversation" c WHERE c.id = ANY($2::uuid[])),
       'replyCount', (SELECT "replyCount" FROM "Message" WHERE id = $3::uuid)
     ) AS snap`,
    [u.id, [groupId, direct.conversationId, directWithX], groupMessageId],
  );
  return row?.snap;
}

/** The refused answer: CONFLICT on clientMessageId, no data, nothing of the first message. */
function expectConflict(
  r: { code: unknown; field: unknown; result: { data?: unknown } },
  firstMessage: { id: string; content: string },
) {
  expect([r.code, r.field]).toEqual(["CONFLICT", "clientMessageId"]);
  const text = JSON.stringify(r.result);
  expect(text).not.toContain(firstMessage.id);
  expect(text).not.toContain(firstMessage.content);
  const data = r.result.data as Record<string, unknown> | null | undefined;
  expect(data == null || Object.values(data).every((value) => value == null)).toBe(true);
}

describe("the same clientMessageId to the same place", () => {
  it("sendMessage (by `to` or by the conversation's id) returns the first message, writes nothing", async () => {
    const before = await writes();
    const again = await send(u, { to: v.username, content: "typed again", clientMessageId: direct.key });
    expect(again).toMatchObject({
      id: direct.messageId,
      content: direct.content,
      clientMessageId: direct.key,
      conversation: { id: direct.conversationId },
    });
    const byId = await send(u, {
      conversationId: direct.conversationId,
      content: "typed again",
      clientMessageId: direct.key,
    });
    expect(byId.id).toBe(direct.messageId);
    expect(await writes()).toEqual(before);
  });

  it("replyToMessage under the same thread returns the first reply, writes nothing", async () => {
    const before = await writes();
    const { replyToMessage } = await u.client.ok(ReplyToMessageDocument, {
      parentId: groupMessageId,
      content: "typed again",
      clientMessageId: reply.key,
    });
    expect(replyToMessage).toMatchObject({
      id: reply.id,
      content: reply.content,
      parent: { id: groupMessageId },
    });
    expect(await writes()).toEqual(before);
  });
});

describe("the same clientMessageId aimed at another conversation: CONFLICT on clientMessageId", () => {
  const first = () => ({ id: direct.messageId, content: direct.content });

  it("sendMessage to a user U never wrote to: refused, and no direct conversation is opened", async () => {
    const before = await writes();
    const r = await u.client.fail(SendMessageDocument, {
      to: w.username,
      content: uniqueName("other"),
      clientMessageId: direct.key,
    });
    expectConflict(r, first());
    expect(await writes()).toEqual(before);
    expect(
      await sql.count(
        `SELECT count(*)::int AS n FROM "Conversation" c
          WHERE c.kind = 'DIRECT'
            AND EXISTS (SELECT 1 FROM "Membership" m WHERE m."conversationId" = c.id AND m."userId" = $1::uuid)
            AND EXISTS (SELECT 1 FROM "Membership" m WHERE m."conversationId" = c.id AND m."userId" = $2::uuid)`,
        [u.id, w.id],
      ),
    ).toBe(0);
  });

  it("sendMessage to another user with an existing direct conversation: refused", async () => {
    const before = await writes();
    const r = await u.client.fail(SendMessageDocument, {
      to: x.username,
      content: uniqueName("other"),
      clientMessageId: direct.key,
    });
    expectConflict(r, first());
    expect(await writes()).toEqual(before);
  });

  it("sendMessage into another conversationId (a group, another direct): refused", async () => {
    const before = await writes();
    for (const conversationId of [groupId, directWithX]) {
      const r = await u.client.fail(SendMessageDocument, {
        conversationId,
        content: uniqueName("other"),
        clientMessageId: direct.key,
      });
      expectConflict(r, first());
    }
    // A reply's key is the reply's: a top-level send elsewhere with it is refused too.
    const r = await u.client.fail(SendMessageDocument, {
      conversationId: direct.conversationId,
      content: uniqueName("other"),
      clientMessageId: reply.key,
    });
    expectConflict(r, reply);
    expect(await writes()).toEqual(before);
  });

  it("replyToMessage under a message of another conversation: refused", async () => {
    const before = await writes();
    // The direct message's key, under a thread of the group.
    expectConflict(
      await u.client.fail(ReplyToMessageDocument, {
        parentId: groupMessageId,
        content: uniqueName("other"),
        clientMessageId: direct.key,
      }),
      first(),
    );
    // The group reply's key, under a thread of the direct conversation.
    expectConflict(
      await u.client.fail(ReplyToMessageDocument, {
        parentId: direct.messageId,
        content: uniqueName("other"),
        clientMessageId: reply.key,
      }),
      reply,
    );
    expect(await writes()).toEqual(before);
  });
});

describe("scheduleMessage with a clientMessageId a sent message holds: CONFLICT, no row", () => {
  const scheduledRows = (key: string) =>
    sql.count(
      `SELECT count(*)::int AS n FROM "ScheduledMessage" WHERE "senderId" = $1::uuid AND "clientMessageId" = $2`,
      [u.id, key],
    );

  it("aimed at another conversation (a group by id, another user by `to`)", async () => {
    const before = await writes();
    for (const target of [{ conversationId: groupId }, { to: w.username }, { to: x.id }]) {
      const r = await u.client.fail(ScheduleMessageDocument, {
        ...target,
        content: uniqueName("later"),
        clientMessageId: direct.key,
        scheduledAt: inMinutes(10),
      });
      expect([r.code, r.field], JSON.stringify(target)).toEqual(["CONFLICT", "clientMessageId"]);
    }
    expect(await scheduledRows(direct.key)).toBe(0);
    expect(await writes()).toEqual(before);
  });

  it("aimed at the same conversation: refused as well (it would 'fire' as the old message)", async () => {
    const before = await writes();
    const targets = [
      { key: direct.key, target: { to: v.username } },
      { key: direct.key, target: { to: v.id } },
      { key: direct.key, target: { conversationId: direct.conversationId } },
      { key: reply.key, target: { conversationId: groupId } },
    ];
    for (const { key, target } of targets) {
      const r = await u.client.fail(ScheduleMessageDocument, {
        ...target,
        content: uniqueName("later"),
        clientMessageId: key,
        scheduledAt: inMinutes(10),
      });
      expect([r.code, r.field], JSON.stringify(target)).toEqual(["CONFLICT", "clientMessageId"]);
    }
    expect(await scheduledRows(direct.key)).toBe(0);
    expect(await scheduledRows(reply.key)).toBe(0);
    expect(await writes()).toEqual(before);
  });

  it("a fresh clientMessageId is still accepted (the refusal is about the key only)", async () => {
    const key = uniqueName("cmid");
    const { scheduleMessage } = await u.client.ok(ScheduleMessageDocument, {
      conversationId: groupId,
      content: uniqueName("later"),
      clientMessageId: key,
      scheduledAt: inMinutes(10),
    });
    expect(scheduleMessage.state).toBe("PENDING");
    expect(await scheduledRows(key)).toBe(1);
    expect((await u.client.ok(CancelScheduledDocument, { id: scheduleMessage.id })).cancelScheduled).toBe(
      true,
    );
  });
});
