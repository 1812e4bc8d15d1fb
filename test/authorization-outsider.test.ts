// Authorization matrix generated from the schema: every Query, Mutation and Subscription field is
// tried by a signed-in outsider (C) with the ids of A and B's objects (their group, their direct
// conversation, their messages, their notifications), in every id argument. Whatever the answer
// (an error, null, or C's own data), none of A and B's content, titles or other object ids may
// appear in it, and nothing of theirs may change. Fields are read from schema.graphql, so
// operations added later are covered without touching this file; argument types this file does
// not know get a generic value.
import { readFileSync } from "node:fs";
import { buildSchema, getNamedType, isNonNullType } from "graphql";
import { beforeAll, describe, expect, it } from "vitest";
import { createGroup, send } from "./helpers/actions.ts";
import { initRaw, openRaw, type RawSocket } from "./helpers/raw-ws.ts";
import {
  type OperationKind,
  probeOperation,
  rootFields,
  type SchemaField,
} from "./helpers/schema-operations.ts";
import { sessionEndingLast } from "./helpers/schema-values.ts";
import { signInAgain, signUp, type TestUser, uniqueName, useServer } from "./helpers/server.ts";
import { useSql } from "./helpers/sql.ts";
import { waitUntil } from "./helpers/wait.ts";

const schema = buildSchema(readFileSync(new URL("../schema.graphql", import.meta.url), "utf8"));

// The matrix sends many operations from one user quickly: only the send limit is raised.
const server = useServer({ RATE_LIMIT_SEND_PER_SECOND: "1000" });
const sql = useSql();
let a: TestUser;
let b: TestUser;
let c: TestUser;
const w = { groupId: "", directId: "", title: "", messageIds: [] as string[], contents: [] as string[] };
let notificationIds: string[] = [];

beforeAll(async () => {
  a = await signUp(server, "out_a");
  b = await signUp(server, "out_b");
  c = await signUp(server, "out_c");
  w.groupId = await createGroup(a, [b]);
  const say = async (who: TestUser, vars: { to?: string; conversationId?: string }) => {
    const content = uniqueName("secret");
    w.contents.push(content);
    const m = await send(who, { ...vars, content });
    w.messageIds.push(m.id);
    return m;
  };
  await say(a, { conversationId: w.groupId });
  await say(b, { conversationId: w.groupId });
  w.directId = (await say(a, { to: b.username })).conversation.id;
  await say(b, { conversationId: w.directId });
  const [row] = await sql.query<{ title: string }>(`SELECT title FROM "Conversation" WHERE id = $1::uuid`, [
    w.groupId,
  ]);
  w.title = row?.title ?? "";
  // Notifications of A and B, where the schema has them (the table may hold some from other tests).
  notificationIds = (
    await sql
      .query<{ id: string }>(`SELECT id::text FROM "Notification" WHERE "userId" = ANY($1::uuid[]) LIMIT 3`, [
        [a.id, b.id],
      ])
      .catch(() => [])
  ).map((r) => r.id);
  // C's own direct chat with A: C may see that, and only that.
  await send(c, { to: a.username, content: "c says hi" });
});

/** The foreign ids C tries, each in every id argument. */
const foreignIds = () => [w.groupId, w.directId, ...w.messageIds, ...notificationIds, a.id, b.id];

/** What C must never see unless C passed it in: A and B's texts, title, conversations and messages. */
const secrets = () => [w.title, w.groupId, w.directId, ...w.messageIds, ...w.contents, b.username];

const operation = (kind: OperationKind, field: SchemaField, id: string) =>
  probeOperation(kind, field, id, "Outsider");
const fieldsOf = (kind: OperationKind) => rootFields(schema, kind);

/** Rows of A and B's world, to prove nothing of theirs changed. */
async function snapshot() {
  const ids = [w.groupId, w.directId];
  const [row] = await sql.query<{ snap: unknown }>(
    `SELECT json_build_object(
       'conversations', (SELECT json_agg(c ORDER BY c.id) FROM "Conversation" c WHERE c.id = ANY($1::uuid[])),
       'memberships', (SELECT json_agg(m ORDER BY m.id) FROM "Membership" m WHERE m."conversationId" = ANY($1::uuid[])),
       'messages', (SELECT json_agg(m ORDER BY m.id) FROM "Message" m WHERE m."conversationId" = ANY($1::uuid[])),
       'users', (SELECT json_agg(json_build_object('id', u.id, 'username', u.username, 'displayName', u."displayName")
                 ORDER BY u.id) FROM "User" u WHERE u.id = ANY($2::uuid[]))
     ) AS snap`,
    [ids, [a.id, b.id]],
  );
  return row?.snap;
}

describe("an outsider with A and B's ids, every operation of the schema", () => {
  it("queries and mutations: no answer carries their data, nothing of theirs changes", async () => {
    const before = await snapshot();
    // logOut and changePassword run last: the rest must still run signed in.
    const fields = sessionEndingLast([...fieldsOf("query"), ...fieldsOf("mutation")]);
    expect(fields.map((f) => f.name)).toEqual(
      expect.arrayContaining(["conversation", "message", "sendMessage"]),
    );
    const leaks: { field: string; id: string; leaked: string[]; status: number }[] = [];
    let tried = 0;
    for (const field of fields) {
      const kind = fieldsOf("query").includes(field) ? "query" : "mutation";
      for (const id of foreignIds()) {
        const { query, variables } = operation(kind, field, id);
        const res = await fetch(server.url, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${c.token}` },
          body: JSON.stringify({ query, variables }),
        });
        const text = await res.text();
        tried++;
        const leaked = secrets().filter((s) => s !== id && text.includes(s));
        if (leaked.length || res.status >= 500)
          leaks.push({ field: field.name, id, leaked, status: res.status });
      }
    }
    expect(tried).toBeGreaterThan(fields.length * 4);
    expect(leaks).toEqual([]);
    expect(await snapshot()).toEqual(before);
    c = await signInAgain(server, c); // logOut may have ended C's session
  });

  it("subscriptions: naming their objects ends in an error, and nothing of theirs arrives", async () => {
    const sockets: { field: string; id: string; socket: RawSocket }[] = [];
    for (const field of fieldsOf("subscription")) {
      // Each foreign id, and (where no argument is required) the viewer's own stream too.
      const required = field.args.some((arg) => isNonNullType(arg.type));
      const ids = [
        ...(field.args.some((arg) => getNamedType(arg.type).name === "ID") ? foreignIds() : []),
        ...(required ? [] : [""]),
      ];
      for (const id of ids) {
        const socket = await openRaw(server.url);
        await initRaw(socket, c.token);
        socket.send({ id: "s", type: "subscribe", payload: operation("subscription", field, id) });
        sockets.push({ field: field.name, id, socket });
      }
    }
    // Subscriptions given a conversation or message id of theirs are refused at once.
    const targeted = sockets.filter((s) => s.id && (s.id === w.groupId || s.id === w.directId));
    expect(targeted.length).toBeGreaterThan(0);
    await waitUntil(
      () => targeted.every((s) => s.socket.frames.some((f) => f.type === "error" || f.type === "complete")),
      { what: "every subscription naming their conversations to end" },
    );
    // A and B talk, type and signal; then A writes to C. C's own streams see that last message, so
    // anything of A and B's that could reach C has had its chance to arrive before it.
    for (const conversationId of [w.groupId, w.directId]) {
      const content = uniqueName("secret");
      w.contents.push(content);
      await send(a, { conversationId, content });
      await a.client.raw(`mutation T($c: ID!) { setTyping(conversationId: $c, typing: true) }`, {
        c: conversationId,
      });
    }
    // C's stream may start listening only now (no replay without `after`): send until one arrives.
    const untargeted = sockets.filter((s) => s.field === "messageEvents" && s.id === "");
    expect(untargeted).toHaveLength(1);
    await waitUntil(
      async () => {
        await send(a, { to: c.username, content: "sentinel for c" });
        return untargeted.every((s) => s.socket.frames.some((f) => f.type === "next"));
      },
      { what: "C's own message stream to see a sentinel", timeoutMs: 10_000, everyMs: 200 },
    );
    const leaks = sockets.flatMap(({ field, id, socket }) => {
      const text = JSON.stringify(socket.frames);
      const leaked = secrets().filter((s) => s !== id && text.includes(s));
      return leaked.length ? [{ field, id, leaked }] : [];
    });
    expect(leaks).toEqual([]);
    for (const s of sockets) s.socket.close();
  });
});
