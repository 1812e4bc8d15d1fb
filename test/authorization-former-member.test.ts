// Authorization matrix for people who WERE in a group, generated from schema.graphql like
// test/authorization-outsider.test.ts. Owner A's group G has B and three actors:
//   R  a MEMBER removed by A (removeMember),
//   L  a MEMBER who left (leaveConversation),
//   D  an ADMIN set back to MEMBER by A (setMemberRole); still a member.
// Before the removal/leave every one of them wrote in G with a clientMessageId (a message and a
// thread reply) and scheduled a message into G that fired; A and B wrote messages, thread replies
// and read receipts (markRead) both before and after.
// R and L then try every Query, Mutation and Subscription field with G's id, G's message ids and
// their own earlier clientMessageIds in every argument that takes them. Whatever the answer, none
// of G's title or the ids and contents of messages others sent there may appear in it (nor their
// own old G messages unless they passed that id in), and nothing of G may change.
// D may still see G (a member), but every admin-only mutation answers FORBIDDEN and changes nothing.
import { readFileSync } from "node:fs";
import { buildSchema, isNonNullType } from "graphql";
import { beforeAll, describe, expect, it } from "vitest";
import {
  AddMembersDocument,
  ConversationMessagesDocument,
  DeleteMessageDocument,
  LeaveConversationDocument,
  MarkReadDocument,
  RemoveMemberDocument,
  ReplyToMessageDocument,
  ScheduleMessageDocument,
  SetMemberRoleDocument,
  SetTypingDocument,
  SignalDocument,
} from "./gql/graphql.ts";
import { createGroup, send } from "./helpers/actions.ts";
import { initRaw, openRaw, type RawSocket } from "./helpers/raw-ws.ts";
import {
  buildOperation,
  isIdType,
  type OperationKind,
  probeOperation,
  probeValue,
  rootFields,
  type SchemaField,
} from "./helpers/schema-operations.ts";
import { SESSION_ENDING } from "./helpers/schema-values.ts";
import { signInAgain, signUp, type TestUser, uniqueName, useServer } from "./helpers/server.ts";
import { useSql } from "./helpers/sql.ts";
import { waitUntil } from "./helpers/wait.ts";

const schema = buildSchema(readFileSync(new URL("../schema.graphql", import.meta.url), "utf8"));

type Msg = { id: string; content: string; senderId: string };
type Actor = {
  label: string;
  user: TestUser;
  /** clientMessageIds the actor used in G: a message, a reply, a scheduled message. */
  keys: string[];
  /** The actor's scheduled message into G (fired before the removal). */
  scheduledId: string;
};

const server = useServer({
  // The matrix sends many operations from one user quickly: its limits are raised.
  RATE_LIMIT_SEND_PER_SECOND: "10000",
  RATE_LIMIT_SEND_BURST: "100000",
  RATE_LIMIT_TYPING_PER_SECOND: "10000",
  RATE_LIMIT_SIGNAL_PER_SECOND: "10000",
  RATE_LIMIT_AUTH_PER_IP_PER_MINUTE: "100000",
  RATE_LIMIT_LOGIN_FAILURES_PER_USERNAME: "100000",
  RATE_LIMIT_WS_CONNECTIONS_PER_MINUTE: "100000",
  JOB_POLL_SECONDS: "0.5",
  JOB_RETRY_DELAY_SECONDS: "1",
});
const sql = useSql();
let a: TestUser;
let b: TestUser;
const g = { id: "", title: "", messages: [] as Msg[] };
const actors = {} as Record<"removed" | "left" | "demoted", Actor>;

const inSeconds = (s: number) => new Date(Date.now() + s * 1000).toISOString();

async function say(who: TestUser, vars: { clientMessageId?: string; parentId?: string } = {}) {
  const content = uniqueName("secret");
  const m = vars.parentId
    ? (
        await who.client.ok(ReplyToMessageDocument, {
          parentId: vars.parentId,
          content,
          clientMessageId: vars.clientMessageId ?? null,
        })
      ).replyToMessage
    : await send(who, { conversationId: g.id, content, clientMessageId: vars.clientMessageId });
  g.messages.push({ id: m.id, content, senderId: who.id });
  return m;
}

const markRead = (who: TestUser, vars: { messageId?: string; conversationId?: string }) =>
  who.client.ok(MarkReadDocument, vars);

beforeAll(async () => {
  a = await signUp(server, "fm_a");
  b = await signUp(server, "fm_b");
  for (const [key, label] of [
    ["removed", "a removed member"],
    ["left", "a member who left"],
    ["demoted", "a demoted admin"],
  ] as const) {
    actors[key] = { label, user: await signUp(server, `fm_${key}`), keys: [], scheduledId: "" };
  }
  const { removed, left, demoted } = actors;
  g.id = await createGroup(a, [b, removed.user, left.user, demoted.user]);
  const [row] = await sql.query<{ title: string }>(`SELECT title FROM "Conversation" WHERE id = $1::uuid`, [
    g.id,
  ]);
  g.title = row?.title ?? "";
  expect(g.title).not.toBe("");

  // Before: A and B talk (a thread included); every actor writes with keys and schedules into G.
  const fromA = await say(a);
  const fromB = await say(b);
  await say(b, { parentId: fromA.id });
  await markRead(b, { messageId: fromA.id });
  await markRead(a, { conversationId: g.id });
  for (const actor of [removed, left, demoted]) {
    const [k1, k2, k3] = [uniqueName("cmid"), uniqueName("cmid"), uniqueName("cmid")];
    actor.keys.push(k1, k2, k3);
    await say(actor.user, { clientMessageId: k1 });
    await say(actor.user, { clientMessageId: k2, parentId: fromB.id });
    await markRead(actor.user, { messageId: fromB.id });
    const content = uniqueName("secret");
    const { scheduleMessage } = await actor.user.client.ok(ScheduleMessageDocument, {
      conversationId: g.id,
      content,
      clientMessageId: k3,
      scheduledAt: inSeconds(1.5),
    });
    actor.scheduledId = scheduleMessage.id;
  }
  // A message by A that every actor reads: each has a read receipt (an event addressed to them,
  // pointing at A's message) in the log from before they were out.
  const readByActors = await say(a);
  for (const actor of [removed, left, demoted]) await markRead(actor.user, { messageId: readByActors.id });
  // The scheduled messages fire (the `message.fire` jobs complete and record their messages).
  await waitUntil(
    async () =>
      (
        await sql.query(
          `SELECT 1 FROM "ScheduledMessage" WHERE id = ANY($1::uuid[]) AND state = 'FIRED' AND "messageId" IS NOT NULL`,
          [[removed.scheduledId, left.scheduledId, demoted.scheduledId]],
        )
      ).length === 3,
    { what: "the three scheduled messages to fire", timeoutMs: 30_000, everyMs: 100 },
  );
  const fired = await sql.query<{ id: string; content: string; senderId: string }>(
    `SELECT m.id::text AS id, m.content, m."senderId"::text AS "senderId"
       FROM "ScheduledMessage" s JOIN "Message" m ON m.id = s."messageId" WHERE s.id = ANY($1::uuid[])`,
    [[removed.scheduledId, left.scheduledId, demoted.scheduledId]],
  );
  expect(fired.every((m) => m.content && m.senderId)).toBe(true);
  g.messages.push(...fired);
  await markRead(a, { conversationId: g.id });

  // D is made an admin, then set back to member.
  await a.client.ok(SetMemberRoleDocument, { conversationId: g.id, userId: demoted.user.id, role: "ADMIN" });
  expect(await roleOf(demoted.user)).toEqual({ role: "ADMIN", active: true });
  await a.client.ok(SetMemberRoleDocument, { conversationId: g.id, userId: demoted.user.id, role: "MEMBER" });
  // R is removed, L leaves.
  await a.client.ok(RemoveMemberDocument, { conversationId: g.id, userId: removed.user.id });
  await left.user.client.ok(LeaveConversationDocument, { conversationId: g.id });

  // After: more messages, a thread, receipts.
  const later = await say(a);
  await say(b);
  await say(b, { parentId: later.id });
  await say(a, { parentId: fromB.id });
  await say(demoted.user);
  await markRead(b, { messageId: later.id });
  await markRead(a, { conversationId: g.id });
  await markRead(demoted.user, { conversationId: g.id });
}, 60_000);

async function roleOf(user: TestUser) {
  const [row] = await sql.query<{ role: string; active: boolean }>(
    `SELECT role::text AS role, ("leftAt" IS NULL) AS active FROM "Membership"
      WHERE "conversationId" = $1::uuid AND "userId" = $2::uuid`,
    [g.id, user.id],
  );
  return row;
}

/** Texts and ids of G the actor must never get back: the title, and what others sent. */
const othersSecrets = (actor: Actor) => [
  g.title,
  ...g.messages.filter((m) => m.senderId !== actor.user.id).flatMap((m) => [m.id, m.content]),
];
/** The actor's own G messages: not to be handed back either (unless the actor passed that id). */
const ownMessages = (actor: Actor) =>
  g.messages.filter((m) => m.senderId === actor.user.id).flatMap((m) => [m.id, m.content]);

/** Every string value in `variables` (what the caller passed in may come back). */
const passedIn = (value: unknown): string[] =>
  typeof value === "string"
    ? [value]
    : Array.isArray(value)
      ? value.flatMap(passedIn)
      : value && typeof value === "object"
        ? Object.values(value).flatMap(passedIn)
        : [];

/** Rows of G, to prove nothing of it changed. */
async function snapshot() {
  const [row] = await sql.query<{ snap: unknown }>(
    `SELECT json_build_object(
       'conversation', (SELECT row_to_json(c) FROM "Conversation" c WHERE c.id = $1::uuid),
       'memberships', (SELECT json_agg(m ORDER BY m.id) FROM "Membership" m WHERE m."conversationId" = $1::uuid),
       'messages', (SELECT json_agg(m ORDER BY m.id) FROM "Message" m WHERE m."conversationId" = $1::uuid),
       'revisions', (SELECT json_agg(r ORDER BY r.id) FROM "MessageRevision" r
                      JOIN "Message" m ON m.id = r."messageId" WHERE m."conversationId" = $1::uuid),
       'events', (SELECT count(*) FROM "Event" e WHERE e."conversationId" = $1::uuid)
     ) AS snap`,
    [g.id],
  );
  return row?.snap;
}

// ---- the schema walk (test/helpers/schema-operations.ts) ----

type Kind = OperationKind;
type Field = SchemaField;
const value = probeValue;
const isId = isIdType;
const build = (kind: Kind, field: Field, variables: Record<string, unknown>) =>
  buildOperation(kind, field, variables, "FormerMember");

/** Arguments naming users (by id or username). */
const USER_REFS = new Set(["userId", "userIds", "memberIds", "with", "to"]);

/** The outsider's probe: required args and every ID argument, all `id` ("" : required only). */
const generic = (kind: Kind, field: Field, id: string) => probeOperation(kind, field, id, "FormerMember");

/**
 * Probes that put each piece where it belongs: ids of G and its messages in ID arguments, B's
 * username in user arguments (`to` as the alternative to a conversation id), the actor's old keys
 * (and none) in `clientMessageId`, fresh text elsewhere.
 */
function targeted(kind: Kind, field: Field, actor: Actor) {
  const ids = [g.id, ...g.messages.map((m) => m.id)];
  const hasId = field.args.some((arg) => isId(arg.type));
  const keys = field.args.some((arg) => arg.name === "clientMessageId") ? [...actor.keys, null] : [null];
  const toArg = field.args.find((arg) => arg.name === "to");
  const out: { query: string; variables: Record<string, unknown> }[] = [];
  const fill = (target: { id?: string; to?: string }, key: string | null) => {
    const variables: Record<string, unknown> = {};
    for (const arg of field.args) {
      if (arg.name === "clientMessageId") {
        if (key !== null) variables[arg.name] = key;
      } else if (arg.name === "to") {
        if (target.to) variables[arg.name] = target.to;
      } else if (isId(arg.type)) {
        if (target.id) variables[arg.name] = value(arg.type, target.id);
        else if (isNonNullType(arg.type)) variables[arg.name] = value(arg.type, g.id);
      } else if (USER_REFS.has(arg.name)) {
        variables[arg.name] = value(arg.type, b.username);
      } else if (isNonNullType(arg.type)) {
        variables[arg.name] = value(arg.type, uniqueName("probe"));
      }
    }
    out.push(build(kind, field, variables));
  };
  for (const key of keys) {
    if (hasId) for (const id of ids) fill({ id }, key);
    else fill({}, key);
    if (toArg) for (const to of [b.username, a.username, b.id]) fill({ to }, key);
  }
  return out;
}

const fieldsOf = (kind: Kind) => rootFields(schema, kind);

async function post(user: TestUser, body: { query: string; variables: Record<string, unknown> }) {
  const res = await fetch(server.url, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${user.token}` },
    body: JSON.stringify(body),
  });
  return { status: res.status, text: await res.text() };
}

/** Runs `tasks` with at most `limit` in flight. */
async function pool<T>(items: T[], limit: number, run: (item: T) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await run(items[next++] as T);
    }),
  );
}

const SEND = `mutation FmSend($to: String, $conversationId: ID, $content: String!, $clientMessageId: String) {
  sendMessage(to: $to, conversationId: $conversationId, content: $content, clientMessageId: $clientMessageId) {
    id content clientMessageId seq
    conversation { id title messages(first: 50) { nodes { id content } } }
  }
}`;

const EVENTS = `query FmEvents($after: String) {
  events(after: $after, first: 100) {
    nodes { id type conversationId messageId data }
    pageInfo { hasNextPage endCursor }
  }
}`;

const SCHEDULED = `query FmScheduled {
  scheduledMessages(first: 20) {
    nodes {
      id state content
      message { id content conversation { id title messages(first: 20) { nodes { id content } } } }
      conversation { id title }
    }
  }
}`;

for (const key of ["removed", "left"] as const) {
  describe(`${key === "removed" ? "a removed member (removeMember)" : "a member who left (leaveConversation)"}`, () => {
    const actor = () => actors[key];

    it("setup: no longer an active member of G", async () => {
      expect(await roleOf(actor().user)).toMatchObject({ active: false });
    });

    it("sendMessage(to: B, clientMessageId: a key they used in G) is a CONFLICT on clientMessageId, nothing of G", async () => {
      const { user, keys } = actor();
      const forbidden = [...othersSecrets(actor()), ...ownMessages(actor()), g.id];
      const messagesBefore = await sql.messagesBySender(user.id);
      const answers: { key: string; returned: boolean; code: unknown; field: unknown; leaked: string[] }[] =
        [];
      const attempt = async (to: string, k: string) => {
        const r = await user.client.raw<{ sendMessage: unknown }, Record<string, unknown>>(SEND, {
          to,
          content: uniqueName("probe"),
          clientMessageId: k,
        });
        const text = JSON.stringify(r);
        answers.push({
          key: k,
          returned: r.data?.sendMessage != null,
          code: r.errors?.[0]?.extensions?.code,
          field: r.errors?.[0]?.extensions?.field,
          leaked: forbidden.filter((s) => text.includes(s)),
        });
      };
      // No direct conversation with B yet (it would be opened by this very send) ...
      for (const k of keys) await attempt(b.username, k);
      // ... and again once one exists.
      await send(user, { to: b.username, content: "hi B" });
      for (const k of keys) await attempt(b.username, k);
      for (const k of keys) await attempt(b.id, k);
      expect(answers).toEqual(
        answers.map((x) => ({
          key: x.key,
          returned: false,
          code: "CONFLICT",
          field: "clientMessageId",
          leaked: [],
        })),
      );
      // Only the plain "hi B" was written.
      expect(await sql.messagesBySender(user.id)).toBe(messagesBefore + 1);
    });

    it("scheduledMessages: their fired G message shows nothing of G (message null or without G content)", async () => {
      const { user, scheduledId } = actor();
      const r = await user.client.raw<
        { scheduledMessages: { nodes: { id: string; conversation: unknown }[] } },
        Record<string, never>
      >(SCHEDULED, {});
      const node = r.data?.scheduledMessages.nodes.find((n) => n.id === scheduledId);
      expect(node, JSON.stringify(r)).toBeDefined();
      expect(node?.conversation).toBeNull();
      const text = JSON.stringify(r);
      expect(othersSecrets(actor()).filter((s) => text.includes(s))).toEqual([]);
    });

    it("events polling: every page of their log shows nothing others said in G (not even through their own old read receipts)", async () => {
      const { user } = actor();
      const pages: string[] = [];
      let after: string | null = null;
      type Page = {
        events: { nodes: { type: string }[]; pageInfo: { hasNextPage: boolean; endCursor: string } };
      };
      for (let page = 0; page < 50; page++) {
        const r: { data?: Page | null; errors?: unknown } = await user.client.raw<
          Page,
          Record<string, unknown>
        >(EVENTS, { after });
        expect(r.errors, JSON.stringify(r.errors)).toBeUndefined();
        pages.push(JSON.stringify(r));
        if (!r.data?.events.pageInfo.hasNextPage) break;
        after = r.data.events.pageInfo.endCursor;
      }
      const text = pages.join("\n");
      // They are told they are out of G ...
      expect(text).toMatch(/member\.(removed|left)/);
      // ... and nothing else of G: no content, title or message id of others (their own old read
      // receipts point at B's messages, so those stay out too).
      expect(othersSecrets(actor()).filter((s) => text.includes(s))).toEqual([]);
    });

    it("every query and mutation: no answer carries G's data, nothing of G changes", {
      timeout: 180_000,
    }, async () => {
      const { user } = actor();
      const before = await snapshot();
      const queries = fieldsOf("query");
      const fields = [...queries, ...fieldsOf("mutation")];
      expect(fields.map((f) => f.name)).toEqual(
        expect.arrayContaining(["conversation", "message", "sendMessage", "scheduledMessages"]),
      );
      const ids = ["", g.id, ...g.messages.map((m) => m.id), a.id, b.id];
      const probes = fields.flatMap((field) => {
        const kind = queries.includes(field) ? "query" : "mutation";
        return [
          ...ids.map((id) => ({ field, ...generic(kind, field, id) })),
          ...targeted(kind, field, actor()).map((op) => ({ field, ...op })),
        ];
      });
      const secrets = [...othersSecrets(actor()), ...ownMessages(actor())];
      const leaks: { field: string; variables: unknown; leaked: string[]; status: number }[] = [];
      const probe = async ({ field, query, variables }: (typeof probes)[number]) => {
        const { status, text } = await post(user, { query, variables });
        const passed = passedIn(variables);
        const leaked = secrets.filter((s) => !passed.includes(s) && text.includes(s));
        if (leaked.length || status >= 500) leaks.push({ field: field.name, variables, leaked, status });
      };
      // logOut and changePassword last, one by one: every other probe must run signed in.
      await pool(
        probes.filter((p) => !SESSION_ENDING.has(p.field.name)),
        8,
        probe,
      );
      for (const p of probes.filter((p) => SESSION_ENDING.has(p.field.name))) await probe(p);
      actor().user = await signInAgain(server, user);
      expect(probes.length).toBeGreaterThan(fields.length * ids.length);
      expect(leaks).toEqual([]);
      expect(await snapshot()).toEqual(before);
    });

    it("subscriptions: naming G or its messages ends in an error, and nothing of G arrives", async () => {
      const { user } = actor();
      const ids = [g.id, ...g.messages.map((m) => m.id)];
      const sockets: { field: string; id: string; socket: RawSocket }[] = [];
      for (const field of fieldsOf("subscription")) {
        const required = field.args.some((arg) => isNonNullType(arg.type));
        const withIds = field.args.some((arg) => isId(arg.type)) ? ids : [];
        for (const id of [...withIds, ...(required ? [] : [""])]) {
          const socket = await openRaw(server.url);
          await initRaw(socket, user.token);
          socket.send({ id: "s", type: "subscribe", payload: generic("subscription", field, id) });
          sockets.push({ field: field.name, id, socket });
        }
      }
      const named = sockets.filter((s) => s.id !== "");
      expect(named.length).toBeGreaterThan(ids.length);
      await waitUntil(
        () => named.every((s) => s.socket.frames.some((f) => f.type === "error" || f.type === "complete")),
        { what: "every subscription naming G or its messages to end" },
      );
      // A and B talk, reply, type, signal and read in G; then A writes to the actor directly.
      const top = await say(a);
      await say(b, { parentId: top.id });
      await markRead(b, { messageId: top.id });
      await a.client.ok(SetTypingDocument, { conversationId: g.id, typing: true });
      await a.client.ok(SignalDocument, { conversationId: g.id, type: "cursor", payload: { x: 1 } });
      const untargeted = sockets.filter((s) => s.field === "messageEvents" && s.id === "");
      expect(untargeted).toHaveLength(1);
      await waitUntil(
        async () => {
          await send(a, { to: user.username, content: "sentinel for a former member" });
          return untargeted.every((s) => s.socket.frames.some((f) => f.type === "next"));
        },
        { what: "the actor's own message stream to see a sentinel", timeoutMs: 10_000, everyMs: 200 },
      );
      const secrets = [...othersSecrets(actor()), ...ownMessages(actor())];
      const leaks = sockets.flatMap(({ field, id, socket }) => {
        const text = JSON.stringify(socket.frames);
        const leaked = secrets.filter((s) => s !== id && text.includes(s));
        return leaked.length ? [{ field, id, leaked }] : [];
      });
      expect(leaks).toEqual([]);
      for (const s of sockets) s.socket.close();
    });
  });
}

describe("a demoted admin (ADMIN set back to MEMBER; still a member)", () => {
  const d = () => actors.demoted.user;

  async function memberships() {
    return sql.query(
      `SELECT id, "userId", role::text AS role, "leftAt", "joinedAt", "lastReadSeq", "unreadCount"
         FROM "Membership" WHERE "conversationId" = $1::uuid ORDER BY id`,
      [g.id],
    );
  }

  it("is an active MEMBER of G and still sees it (title, messages of after the demotion)", async () => {
    expect(await roleOf(d())).toEqual({ role: "MEMBER", active: true });
    const { conversation } = await d().client.ok(ConversationMessagesDocument, { id: g.id, first: 50 });
    const contents = conversation?.messages.nodes.map((m) => m.content) ?? [];
    const lastFromA = g.messages.filter((m) => m.senderId === a.id).at(-1);
    expect(contents).toContain(lastFromA?.content);
  });

  it("addMembers, removeMember, setMemberRole on G answer FORBIDDEN and change no membership", async () => {
    const newcomer = await signUp(server, "fm_new");
    const before = await memberships();
    const attempts: [string, () => Promise<{ code: unknown }>][] = [
      [
        "addMembers(newcomer)",
        () => d().client.fail(AddMembersDocument, { conversationId: g.id, memberIds: [newcomer.id] }),
      ],
      [
        "addMembers(removed member back)",
        () =>
          d().client.fail(AddMembersDocument, { conversationId: g.id, memberIds: [actors.removed.user.id] }),
      ],
      [
        "addMembers(member who left back)",
        () =>
          d().client.fail(AddMembersDocument, {
            conversationId: g.id,
            memberIds: [actors.left.user.username],
          }),
      ],
      [
        "removeMember(B)",
        () => d().client.fail(RemoveMemberDocument, { conversationId: g.id, userId: b.id }),
      ],
      [
        "removeMember(owner)",
        () => d().client.fail(RemoveMemberDocument, { conversationId: g.id, userId: a.id }),
      ],
      ...(["ADMIN", "OWNER", "MEMBER"] as const).map(
        (role) =>
          [
            `setMemberRole(B, ${role})`,
            () => d().client.fail(SetMemberRoleDocument, { conversationId: g.id, userId: b.id, role }),
          ] as [string, () => Promise<{ code: unknown }>],
      ),
      [
        "setMemberRole(owner, MEMBER)",
        () => d().client.fail(SetMemberRoleDocument, { conversationId: g.id, userId: a.id, role: "MEMBER" }),
      ],
    ];
    const codes: Record<string, unknown> = {};
    for (const [label, run] of attempts) codes[label] = (await run()).code;
    expect(codes).toEqual(Object.fromEntries(attempts.map(([label]) => [label, "FORBIDDEN"])));
    expect(await memberships()).toEqual(before);
  });

  it("cannot promote themselves back (refused, no membership changes)", async () => {
    const before = await memberships();
    for (const role of ["ADMIN", "OWNER"] as const) {
      const { code } = await d().client.fail(SetMemberRoleDocument, {
        conversationId: g.id,
        userId: d().id,
        role,
      });
      expect(["FORBIDDEN", "BAD_USER_INPUT"], role).toContain(code);
    }
    expect(await memberships()).toEqual(before);
  });

  it("cannot moderate: deleting another member's message in G is FORBIDDEN, nothing deleted", async () => {
    const before = await snapshot();
    for (const m of g.messages.filter((m) => m.senderId === b.id || m.senderId === a.id)) {
      const { code } = await d().client.fail(DeleteMessageDocument, { id: m.id });
      expect(code, m.id).toBe("FORBIDDEN");
    }
    expect(await snapshot()).toEqual(before);
  });
});
