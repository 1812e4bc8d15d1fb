// Authorization matrix. A and B share a direct conversation and a group (A OWNER, B MEMBER) with
// messages, an edit and a thread; C is an outsider. Everything C tries on their objects must answer
// NOT_FOUND exactly as for an id that does not exist, carry none of their content, and write nothing.
// Without a token, every operation but signUp/logIn answers UNAUTHENTICATED (fields are read from
// schema.graphql, so new ones are covered without touching this file).
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import {
  buildSchema,
  type GraphQLField,
  type GraphQLInputType,
  type GraphQLObjectType,
  getNamedType,
  isLeafType,
  isNonNullType,
} from "graphql";
import { beforeAll, describe, expect, it } from "vitest";
import {
  AddMembersForAuthorizationDocument,
  ChatForAuthorizationDocument,
  ConversationForAuthorizationDocument,
  ConversationMessagesForAuthorizationDocument,
  ConversationsForAuthorizationDocument,
  CreateGroupForSetupDocument,
  DeleteMessageForAuthorizationDocument,
  EditMessageForAuthorizationDocument,
  EditMessageForSetupDocument,
  LeaveConversationDocument,
  MarkReadForAuthorizationDocument,
  MarkReadForSetupDocument,
  MessageForAuthorizationDocument,
  ReadByForAuthorizationDocument,
  RemoveMemberForAuthorizationDocument,
  RepliesForAuthorizationDocument,
  ReplyToMessageForAuthorizationDocument,
  ReplyToMessageForSetupDocument,
  SendMessageForAuthorizationDocument,
  SendMessageForSetupDocument,
  SetMemberRoleForAuthorizationDocument,
  type TypedDocumentString,
  UnreadDocument,
} from "./gql/graphql.ts";
import { sampleValue } from "./helpers/schema-values.ts";
import { signUp, type TestUser, uniqueName, useServer } from "./helpers/server.ts";
import { useSql } from "./helpers/sql.ts";

const server = useServer();
const sql = useSql();
let a: TestUser;
let b: TestUser;
let c: TestUser;

/** A and B's world. */
const w = {
  directId: "",
  groupId: "",
  groupTitle: "",
  /** Message ids: group top-level (A, edited), group top-level (B), group reply (B),
   * direct top-level (A), direct top-level (B), direct reply (A). */
  messageIds: [] as string[],
  /** Every text A and B wrote, including content an edit replaced. */
  contents: [] as string[],
  /** C's own direct chat with A (one message by C). */
  cDirectId: "",
  cMessageId: "",
};

const secret = () => uniqueName("secret");

beforeAll(async () => {
  a = await signUp(server, "az_a");
  b = await signUp(server, "az_b");
  c = await signUp(server, "az_c");

  const say = async (who: TestUser, vars: { to?: string; conversationId?: string }) => {
    const content = secret();
    w.contents.push(content);
    const { sendMessage } = await who.client.ok(SendMessageForSetupDocument, { ...vars, content });
    return sendMessage;
  };
  const reply = async (who: TestUser, parentId: string) => {
    const content = secret();
    w.contents.push(content);
    return (await who.client.ok(ReplyToMessageForSetupDocument, { parentId, content })).replyToMessage;
  };

  w.groupTitle = uniqueName("Secret Group");
  const { createGroup } = await a.client.ok(CreateGroupForSetupDocument, {
    title: w.groupTitle,
    memberIds: [b.id],
  });
  w.groupId = createGroup.id;
  const g1 = await say(a, { conversationId: w.groupId });
  const edited = secret();
  w.contents.push(edited);
  await a.client.ok(EditMessageForSetupDocument, { id: g1.id, content: edited });
  const g2 = await say(b, { conversationId: w.groupId });
  const g3 = await reply(b, g1.id);

  const d1 = await say(a, { to: b.username });
  w.directId = d1.conversation.id;
  const d2 = await say(b, { conversationId: w.directId });
  const d3 = await reply(a, d2.id);
  w.messageIds = [g1.id, g2.id, g3.id, d1.id, d2.id, d3.id];

  // Read receipts, so readBy has something to leak.
  await b.client.ok(MarkReadForSetupDocument, { conversationId: w.groupId });
  await a.client.ok(MarkReadForSetupDocument, { conversationId: w.directId });

  // C's own chat with A: C may see that, and only that.
  const mine = await c.client.ok(SendMessageForSetupDocument, { to: a.username, content: "from c to a" });
  w.cDirectId = mine.sendMessage.conversation.id;
  w.cMessageId = mine.sendMessage.id;
});

/** Strings that must not reach C: A and B's ids, usernames, titles and message texts. */
function secrets(): string[] {
  return [
    w.directId,
    w.groupId,
    w.groupTitle,
    ...w.messageIds,
    ...w.contents,
    a.id,
    b.id,
    a.username,
    b.username,
  ];
}

/** Everything in the database about the conversations involved and about C. */
async function snapshot() {
  const ids = [w.directId, w.groupId, w.cDirectId];
  const [row] = await sql.query<{ snap: unknown }>(
    `SELECT json_build_object(
       'counts', json_build_object(
         'conversations', (SELECT count(*) FROM "Conversation" WHERE id = ANY($1::uuid[])),
         'memberships', (SELECT count(*) FROM "Membership" WHERE "conversationId" = ANY($1::uuid[]) OR "userId" = $2::uuid),
         'messages', (SELECT count(*) FROM "Message" WHERE "conversationId" = ANY($1::uuid[]) OR "senderId" = $2::uuid),
         'revisions', (SELECT count(*) FROM "MessageRevision" r JOIN "Message" m ON m.id = r."messageId"
                       WHERE m."conversationId" = ANY($1::uuid[])),
         'events', (SELECT count(*) FROM "Event" WHERE "conversationId" = ANY($1::uuid[]) OR "userId" = $2::uuid)),
       'conversations', (SELECT json_agg(c ORDER BY c.id) FROM "Conversation" c WHERE c.id = ANY($1::uuid[])),
       'memberships', (SELECT json_agg(m ORDER BY m.id) FROM "Membership" m
                       WHERE m."conversationId" = ANY($1::uuid[]) OR m."userId" = $2::uuid),
       'messages', (SELECT json_agg(m ORDER BY m.id) FROM "Message" m
                    WHERE m."conversationId" = ANY($1::uuid[]) OR m."senderId" = $2::uuid),
       'revisions', (SELECT json_agg(r ORDER BY r.id) FROM "MessageRevision" r JOIN "Message" m ON m.id = r."messageId"
                     WHERE m."conversationId" = ANY($1::uuid[])),
       'events', (SELECT json_agg(e ORDER BY e.id) FROM "Event" e
                  WHERE e."conversationId" = ANY($1::uuid[]) OR e."userId" = $2::uuid)
     ) AS snap`,
    [ids, c.id],
  );
  return row?.snap;
}

type Attempt = { label: string; doc: TypedDocumentString<unknown, never>; vars: Record<string, unknown> };

function attempts(): Attempt[] {
  const list: Attempt[] = [];
  // biome-ignore lint/suspicious/noExplicitAny: the matrix mixes documents of different types.
  const add = (label: string, doc: TypedDocumentString<any, any>, vars: Record<string, unknown>) =>
    list.push({ label, doc, vars });
  const intrusion = `intrusion ${uniqueName()}`;
  for (const [name, id] of [
    ["group", w.groupId],
    ["direct", w.directId],
  ] as const) {
    add(`conversation(${name})`, ConversationForAuthorizationDocument, { id });
    add(`conversation(${name}).messages`, ConversationMessagesForAuthorizationDocument, { id });
    add(`sendMessage(conversationId: ${name})`, SendMessageForAuthorizationDocument, {
      conversationId: id,
      content: intrusion,
    });
    add(`markRead(conversationId: ${name})`, MarkReadForAuthorizationDocument, { conversationId: id });
    add(`addMembers(${name}, [C])`, AddMembersForAuthorizationDocument, {
      conversationId: id,
      memberIds: [c.id],
    });
    add(`addMembers(${name}, [C by name])`, AddMembersForAuthorizationDocument, {
      conversationId: id,
      memberIds: [c.username],
    });
    add(`removeMember(${name}, B)`, RemoveMemberForAuthorizationDocument, {
      conversationId: id,
      userId: b.id,
    });
    add(`removeMember(${name}, A)`, RemoveMemberForAuthorizationDocument, {
      conversationId: id,
      userId: a.id,
    });
    add(`leaveConversation(${name})`, LeaveConversationDocument, { conversationId: id });
    add(`setMemberRole(${name}, C, OWNER)`, SetMemberRoleForAuthorizationDocument, {
      conversationId: id,
      userId: c.id,
      role: "OWNER",
    });
    add(`setMemberRole(${name}, B, ADMIN)`, SetMemberRoleForAuthorizationDocument, {
      conversationId: id,
      userId: b.id,
      role: "ADMIN",
    });
  }
  w.messageIds.forEach((id, i) => {
    const m = `message#${i}`;
    add(`message(${m})`, MessageForAuthorizationDocument, { id });
    add(`message(${m}).replies`, RepliesForAuthorizationDocument, { id });
    add(`message(${m}).readBy`, ReadByForAuthorizationDocument, { id });
    add(`replyToMessage(${m})`, ReplyToMessageForAuthorizationDocument, { parentId: id, content: intrusion });
    add(`editMessage(${m})`, EditMessageForAuthorizationDocument, { id, content: intrusion });
    add(`deleteMessage(${m})`, DeleteMessageForAuthorizationDocument, { id });
    add(`markRead(messageId: ${m})`, MarkReadForAuthorizationDocument, { messageId: id });
    add(`markRead(messageId: ${m}, conversationId: C's)`, MarkReadForAuthorizationDocument, {
      messageId: id,
      conversationId: w.cDirectId,
    });
  });
  return list;
}

/** The same variables with every id of A/B's objects swapped for an id nothing has. */
function withUnknownIds(vars: Record<string, unknown>, known: Set<string>): Record<string, unknown> {
  const swap = (v: unknown): unknown =>
    typeof v === "string" && known.has(v) ? randomUUID() : Array.isArray(v) ? v.map(swap) : v;
  return Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, swap(v)]));
}

const passedIn = (vars: Record<string, unknown>) => new Set(Object.values(vars).flat().map(String));

describe("an outsider (C) and A/B's conversations", () => {
  it("gets NOT_FOUND for every query and mutation, exactly like for an unknown id, sees and writes nothing", async () => {
    const before = await snapshot();
    const knownIds = new Set([w.directId, w.groupId, ...w.messageIds, a.id, b.id]);
    const list = attempts();
    expect(list.length).toBe(2 * 11 + 6 * 8);
    const rows: {
      label: string;
      code: unknown;
      dataIsEmpty: boolean;
      leaked: string[];
      sameAsUnknown: boolean;
    }[] = [];
    for (const { label, doc, vars } of list) {
      const real = await c.client.raw(String(doc), vars);
      const unknownVars = withUnknownIds(vars, knownIds);
      const unknown = await c.client.raw(String(doc), unknownVars);
      const allowed = passedIn(vars);
      const leaked = secrets().filter((s) => !allowed.has(s) && real.text.includes(s));
      // Same answer as for ids that do not exist, once the ids themselves are normalized.
      const normalize = (text: string, v: Record<string, unknown>) => {
        let out = text;
        for (const [k, value] of Object.entries(v)) {
          for (const s of [value].flat().map(String)) out = out.split(s).join(`<${k}>`);
        }
        return out;
      };
      const dataValues = real.data ? Object.values(real.data as Record<string, unknown>) : [];
      rows.push({
        label,
        code: real.errors?.[0]?.extensions?.code,
        dataIsEmpty: dataValues.every((v) => v === null),
        leaked,
        sameAsUnknown: normalize(real.text, vars) === normalize(unknown.text, unknownVars),
      });
    }
    expect(rows).toEqual(
      rows.map((r) => ({ ...r, code: "NOT_FOUND", dataIsEmpty: true, leaked: [], sameAsUnknown: true })),
    );
    expect(await snapshot()).toEqual(before);
  });

  it("chat(with: A) for C shows only C's own chat with A", async () => {
    for (const withRef of [a.username, a.id]) {
      const res = await c.client.raw(ChatForAuthorizationDocument, { with: withRef });
      expect(res.errors).toBeUndefined();
      const chat = res.data?.chat;
      expect(chat?.totalCount).toBe(1);
      expect(
        chat?.edges.map((e) => [e.node.id, e.node.content, e.node.sender?.id, e.node.conversation.id]),
      ).toEqual([[w.cMessageId, "from c to a", c.id, w.cDirectId]]);
      const leaked = secrets().filter((s) => s !== withRef && res.text.includes(s));
      expect(leaked).toEqual([]);
    }
  });

  it("chat(with: B) for C, who never wrote to B, is an empty connection", async () => {
    for (const withRef of [b.username, b.id]) {
      const res = await c.client.raw(ChatForAuthorizationDocument, { with: withRef });
      expect(res.errors).toBeUndefined();
      expect(res.data?.chat).toEqual({
        totalCount: 0,
        edges: [],
        pageInfo: { hasNextPage: false, hasPreviousPage: false, startCursor: null, endCursor: null },
      });
      expect(secrets().filter((s) => s !== withRef && res.text.includes(s))).toEqual([]);
    }
  });

  it("C's own conversation list holds only C's chat with A", async () => {
    const res = await c.client.raw(ConversationsForAuthorizationDocument, {});
    expect(res.errors).toBeUndefined();
    expect(res.data?.conversations.totalCount).toBe(1);
    expect(res.data?.conversations.nodes.map((n) => n.id)).toEqual([w.cDirectId]);
    // The list shows A as a member of C's chat; nothing of B or of A and B's conversations.
    const leaked = secrets().filter((s) => s !== a.id && s !== a.username && res.text.includes(s));
    expect(leaked).toEqual([]);
    // C's unread total counts nothing of A and B's conversations (C has read all of its own chat).
    const unread = await c.client.ok(UnreadDocument);
    expect(unread.unread).toBe(0);
    // ...while B, who has not read A's direct message reply, has some: the counter is live.
    expect((await b.client.ok(UnreadDocument)).unread).toBeGreaterThan(0);
  });

  it("members still see their conversations after C's attempts (nothing was changed for them)", async () => {
    const { conversation } = await b.client.ok(ConversationForAuthorizationDocument, { id: w.groupId });
    expect(conversation?.title).toBe(w.groupTitle);
    expect(Object.fromEntries((conversation?.members ?? []).map((m) => [m.id, m.role]))).toEqual({
      [a.id]: "OWNER",
      [b.id]: "MEMBER",
    });
    const { message } = await b.client.ok(MessageForAuthorizationDocument, { id: w.messageIds[0] ?? "" });
    expect(message?.content).toBe(w.contents[1]); // the edited text
    expect(message?.revisions.map((r) => r.content)).toEqual([w.contents[0]]);
  });
});

// ---------------------------------------------------------------------------------------------
// Without a token: every Query and Mutation field from the printed schema.

const sdl = readFileSync(new URL("../schema.graphql", import.meta.url), "utf8");
const schema = buildSchema(sdl);
const PUBLIC = new Set(["signUp", "logIn"]);

/** A value of the argument's type (ids point at A/B's real objects: even those must not help). */
function sample(type: GraphQLInputType): unknown {
  const byScalar: Record<string, unknown> = {
    ID: w.groupId,
    String: a.username,
    Int: 1,
    Float: 1,
    Boolean: true,
    DateTime: new Date().toISOString(),
  };
  return sampleValue(type, { scalar: (name) => (name in byScalar ? byScalar[name] : {}) });
}

/** `query|mutation ($arg: Type!, ...) { field(arg: $arg) { __typename } }` with required args only. */
function minimalOperation(kind: "query" | "mutation", field: GraphQLField<unknown, unknown>) {
  const args = field.args.filter((arg) => isNonNullType(arg.type));
  const defs = args.map((arg) => `$${arg.name}: ${String(arg.type)}`).join(", ");
  const call = args.length ? `(${args.map((arg) => `${arg.name}: $${arg.name}`).join(", ")})` : "";
  const selection = isLeafType(getNamedType(field.type)) ? "" : " { __typename }";
  const query = `${kind} Anonymous${defs ? `(${defs})` : ""} { ${field.name}${call}${selection} }`;
  const variables = Object.fromEntries(args.map((arg) => [arg.name, sample(arg.type)]));
  return { query, variables };
}

describe("without a token", () => {
  const roots = [
    ["query", schema.getQueryType()],
    ["mutation", schema.getMutationType()],
  ] as const;

  it("every operation except signUp/logIn answers UNAUTHENTICATED and no data", async () => {
    const fields = roots.flatMap(
      ([kind, type]: readonly ["query" | "mutation", GraphQLObjectType | null | undefined]) =>
        Object.values(type?.getFields() ?? {})
          .filter((f) => !PUBLIC.has(f.name))
          .map((f) => ({ kind, field: f })),
    );
    const names = fields.map((f) => f.field.name);
    // The schema was read: the fields this suite knows about are all there.
    expect(names).toEqual(
      expect.arrayContaining([
        "me",
        "conversations",
        "conversation",
        "chat",
        "message",
        "unread",
        "sendMessage",
        "replyToMessage",
        "editMessage",
        "deleteMessage",
        "markRead",
        "createGroup",
        "addMembers",
        "removeMember",
        "leaveConversation",
        "setMemberRole",
        "upsertUser",
      ]),
    );
    const rows: { field: string; token: string; code: unknown; data: unknown; leaked: string[] }[] = [];
    for (const { kind, field } of fields) {
      const { query, variables } = minimalOperation(kind, field);
      for (const token of [undefined, "garbage-token"]) {
        const res = await server.client.as({ token }).raw(query, variables);
        const data = res.data
          ? Object.values(res.data as Record<string, unknown>).filter((v) => v !== null)
          : [];
        const allowed = passedIn(variables);
        rows.push({
          field: field.name,
          token: token ?? "none",
          code: res.errors?.[0]?.extensions?.code,
          data,
          leaked: secrets().filter((s) => !allowed.has(s) && res.text.includes(s)),
        });
      }
    }
    expect(rows).toEqual(rows.map((r) => ({ ...r, code: "UNAUTHENTICATED", data: [], leaked: [] })));
  });

  it("signUp and logIn work without a token (the exceptions are real)", async () => {
    const username = uniqueName("az_pub");
    const signUpRes = await server.client.raw(
      `mutation PublicSignUp($u: String!) { signUp(username: $u, password: "password123", displayName: "P") { token } }`,
      { u: username },
    );
    expect(signUpRes.errors).toBeUndefined();
    const logInRes = await server.client.raw(
      `mutation PublicLogIn($u: String!) { logIn(username: $u, password: "password123") { token } }`,
      { u: username },
    );
    expect(logInRes.errors).toBeUndefined();
  });
});
