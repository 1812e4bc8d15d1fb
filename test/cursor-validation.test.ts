// Every cursor and every id argument of the schema, given malformed, out-of-range or unknown values,
// answers a coded error: BAD_USER_INPUT naming that argument, or NOT_FOUND (or a plain success
// where the value is well-formed and simply matches nothing), never a masked internal error. The
// root arguments are found by walking schema.graphql, so a new query, mutation or subscription is
// covered without editing this file; the nested connections are listed, and a check fails when one
// is added without being listed. Its own scratch database (it registers a webhook endpoint).
import { readFileSync } from "node:fs";
import {
  buildSchema,
  type GraphQLArgument,
  type GraphQLField,
  type GraphQLInputType,
  getNamedType,
  isInputObjectType,
  isLeafType,
  isListType,
  isNonNullType,
  isObjectType,
} from "graphql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGroup, send } from "./helpers/actions.ts";
import { type Receiver, startReceiver } from "./helpers/receiver.ts";
import { sampleValue } from "./helpers/schema-values.ts";
import { signUp, TEST_API_KEY, type TestUser, useScratchDatabase, useServer } from "./helpers/server.ts";

const schema = buildSchema(readFileSync(new URL("../schema.graphql", import.meta.url), "utf8"));

const b64 = (text: string) => Buffer.from(text, "utf8").toString("base64url");
/** A connection cursor as Pothos writes them (standard base64 of "GPC:<tag>:<value>"). */
const gpc = (chunk: string) => Buffer.from(`GPC:${chunk}`, "utf8").toString("base64");

/** Cursors: beyond int8, malformed, foreign formats, Pothos-shaped around bad ids, huge, NUL. */
const BAD_CURSORS = [
  b64("9999999999999999999.1"),
  b64("1.9999999999999999999"),
  b64("9223372036854775808.0"),
  b64("99999999999999999999.1"),
  "9999999999999999999",
  "not a cursor",
  "",
  "\u0000",
  "x".repeat(5000),
  gpc("S:not-a-uuid"),
  gpc("S:\u0000"),
  gpc("S:"),
  gpc("N:9999999999999999999"),
  gpc("I:99999999999999999999999"),
  gpc('O:{"id":1}'),
  gpc('T:["S:x","N:1"]'),
  gpc("D:99999999999999999"),
  gpc("S:00000000-0000-0000-0000-000000000000"),
];

/** Ids (and user / topic references): malformed, absent, huge, NUL, numeric beyond int8. */
const BAD_IDS = [
  "not-a-uuid",
  "00000000-0000-0000-0000-000000000000",
  "",
  "\u0000",
  "a\u0000b",
  "a".repeat(5000),
  "9999999999999999999",
  "' OR 1=1 --",
];

/** String arguments that name a row by id (or by username / key). */
const REFERENCE_ARGS = new Set(["userId", "to", "with", "memberIds", "topic", "userIds"]);
const CURSOR_ARGS = new Set(["after", "before"]);

const scratch = useScratchDatabase("cursor_validation");
const server = useServer(() => ({
  DATABASE_URL: scratch.url,
  WEBHOOK_ALLOW_PRIVATE: "true",
  RATE_LIMIT_SEND_PER_SECOND: "100000",
  RATE_LIMIT_TYPING_PER_SECOND: "100000",
  RATE_LIMIT_SIGNAL_PER_SECOND: "100000",
}));
let receiver: Receiver;
let a: TestUser;
let b: TestUser;
const real: Record<string, string> = {};

const headers = () => ({
  "content-type": "application/json",
  accept: "application/json",
  authorization: `Bearer ${a.token}`,
  "x-api-key": TEST_API_KEY,
});

type Answer = { errors?: { message: string; extensions?: { code?: string; field?: string } }[] };

async function post(query: string, variables: Record<string, unknown>): Promise<Answer> {
  const res = await fetch(server.url, {
    method: "POST",
    headers: headers(),
    body: JSON.stringify({ query, variables }),
  });
  const text = await res.text();
  try {
    return JSON.parse(text) as Answer;
  } catch {
    return { errors: [{ message: `HTTP ${res.status}: ${text.slice(0, 100)}` }] };
  }
}

/** A subscription over SSE: its first result, or its first error; bounded. */
async function subscribeOnce(query: string, variables: Record<string, unknown>): Promise<Answer> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), 5_000);
  try {
    const res = await fetch(server.url, {
      method: "POST",
      signal: abort.signal,
      headers: { ...headers(), accept: "text/event-stream" },
      body: JSON.stringify({ query, variables }),
    });
    if (!(res.headers.get("content-type") ?? "").includes("text/event-stream")) {
      return (await res.json()) as Answer;
    }
    let buffer = "";
    const decoder = new TextDecoder();
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      const data = /^event: next\ndata: (.*)$/m.exec(buffer)?.[1];
      if (data) return JSON.parse(data) as Answer;
      if (/^event: complete$/m.test(buffer)) return {};
    }
    return {};
  } catch {
    return { errors: [{ message: "no answer within 5 s (the subscription started)" }] };
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
}

/** A well-formed value for the arguments a case does not target. */
function plausible(name: string, type: GraphQLInputType): unknown {
  const byName: Record<string, unknown> = {
    conversationId: real.group,
    messageId: real.message,
    parentId: real.message,
    endpointId: real.endpoint,
    userId: b.id,
    to: b.username,
    with: b.username,
    memberIds: [b.id],
    topic: real.topic,
    content: "probe",
    scheduledAt: new Date(Date.now() + 3_600_000).toISOString(),
    address: "probe@example.com",
    typing: true,
    type: "probe",
  };
  if (name in byName) return byName[name];
  return sampleValue(type, {
    scalar: (scalar) =>
      ({ ID: real.message, String: "probe", Int: 1, Boolean: true, DateTime: new Date().toISOString() })[
        scalar
      ] ?? {},
  });
}

/** Optional arguments an operation needs besides the targeted one to get that far. */
const ALSO: Record<string, string[]> = { sendNotification: ["title", "body"] };

type Case = {
  operation: string;
  target: string;
  /** Fields a BAD_USER_INPUT may name: the target (or the input object holding it). */
  fields: string[];
  query: string;
  variables: Record<string, unknown>;
  /** The bad value given. */
  value: unknown;
};

const isIdType = (type: GraphQLInputType) => getNamedType(type).name === "ID";
const targetKind = (name: string, type: GraphQLInputType) =>
  CURSOR_ARGS.has(name) ? "cursor" : isIdType(type) || REFERENCE_ARGS.has(name) ? "id" : null;

/** One case per (root field, targeted argument, bad value), other arguments plausible. */
function rootCases(kind: "query" | "mutation" | "subscription"): Case[] {
  const root =
    kind === "query"
      ? schema.getQueryType()
      : kind === "mutation"
        ? schema.getMutationType()
        : schema.getSubscriptionType();
  const cases: Case[] = [];
  for (const field of Object.values(root?.getFields() ?? {}) as GraphQLField<unknown, unknown>[]) {
    for (const arg of field.args) {
      // Input objects (BroadcastInput): their reference fields, one at a time.
      const named = getNamedType(arg.type);
      if (isInputObjectType(named)) {
        for (const inner of Object.values(named.getFields())) {
          const k = targetKind(inner.name, inner.type);
          if (!k) continue;
          for (const value of k === "cursor" ? BAD_CURSORS : BAD_IDS) {
            const input = {
              title: "probe",
              body: "probe",
              [inner.name]: isListType(isNonNullType(inner.type) ? inner.type.ofType : inner.type)
                ? [value]
                : value,
            };
            cases.push({ ...build(kind, field, [arg], { [arg.name]: input }, inner.name, arg.name), value });
          }
        }
        continue;
      }
      const k = targetKind(arg.name, arg.type);
      if (!k) continue;
      const others = field.args.filter(
        (o) => o !== arg && (isNonNullType(o.type) || ALSO[field.name]?.includes(o.name)),
      );
      for (const value of k === "cursor" ? BAD_CURSORS : BAD_IDS) {
        const variables: Record<string, unknown> = Object.fromEntries(
          others.map((o) => [o.name, plausible(o.name, o.type)]),
        );
        const list = isListType(isNonNullType(arg.type) ? arg.type.ofType : arg.type);
        variables[arg.name] = list ? [value] : value;
        cases.push({ ...build(kind, field, [...others, arg], variables, arg.name), value });
      }
    }
  }
  return cases;
}

function build(
  kind: string,
  field: GraphQLField<unknown, unknown>,
  args: GraphQLArgument[],
  variables: Record<string, unknown>,
  target: string,
  holder?: string,
): Omit<Case, "value"> {
  const defs = args.map((arg) => `$${arg.name}: ${String(arg.type)}`).join(", ");
  const call = args.length ? `(${args.map((arg) => `${arg.name}: $${arg.name}`).join(", ")})` : "";
  // A connection resolves its rows only when they are selected (totalCount alone skips that).
  const named = getNamedType(field.type);
  const selection = isLeafType(named)
    ? ""
    : named.name.endsWith("Connection")
      ? " { edges { cursor } totalCount }"
      : " { __typename }";
  return {
    operation: field.name,
    target,
    fields: holder ? [target, holder] : [target],
    query: `${kind} Probe${defs ? `(${defs})` : ""} { ${field.name}${call}${selection} }`,
    variables,
  };
}

/** `after` pages forward (`first`), `before` backward (`last`), as connections allow. */
const page = (arg: string) => `${arg}: $${arg}, ${arg === "after" ? "first" : "last"}: 1`;

/** Connections below the root, reached through a row of this test: "Type.field" -> the query. */
const NESTED: Record<string, (arg: string) => string> = {
  "Conversation.messages": (arg) =>
    `query Probe($${arg}: String) { conversation(id: "${real.group}") { messages(${page(arg)}) { edges { cursor } totalCount } } }`,
  "Conversation.memberConnection": (arg) =>
    `query Probe($${arg}: String) { conversation(id: "${real.group}") { memberConnection(${page(arg)}) { edges { cursor } totalCount } } }`,
  "Message.readByConnection": (arg) =>
    `query Probe($${arg}: String) { message(id: "${real.message}") { readByConnection(${page(arg)}) { edges { cursor } totalCount } } }`,
  "Message.replies": (arg) =>
    `query Probe($${arg}: String) { message(id: "${real.message}") { replies(${page(arg)}) { edges { cursor } totalCount } } }`,
  "Broadcast.recipients": (arg) =>
    `query Probe($${arg}: String) { broadcast(id: "${real.broadcast}") { recipients(${page(arg)}) { edges { cursor } totalCount } } }`,
  "Target.deliveries": (arg) =>
    `query Probe($${arg}: String) { targets { deliveries(${page(arg)}) { edges { cursor } totalCount } } }`,
  "WebhookEndpoint.deliveries": (arg) =>
    `query Probe($${arg}: String) { webhookEndpoint(id: "${real.endpoint}") { deliveries(${page(arg)}) { edges { cursor } totalCount } } }`,
};

/** Well-formed values that name nothing: these may also succeed (an empty page, say). */
const WELL_FORMED = new Set([
  "00000000-0000-0000-0000-000000000000",
  gpc("S:00000000-0000-0000-0000-000000000000"),
]);

/** Why an answer is not acceptable for a case, or null when it is. */
function problem(answer: Answer, fields: string[], value: unknown): string | null {
  const error = answer.errors?.[0];
  if (!error) {
    const values = Array.isArray(value) ? value : [value];
    return values.every((v) => typeof v === "string" && WELL_FORMED.has(v)) ? null : "succeeded";
  }
  const { code, field } = error.extensions ?? {};
  if (code === "NOT_FOUND") return null;
  if (code === "BAD_USER_INPUT" && field !== undefined && fields.includes(field)) return null;
  return `${code ?? "no code"} (field ${field ?? "-"}): ${error.message.slice(0, 120)}`;
}

beforeAll(async () => {
  receiver = await startReceiver();
  a = await signUp(server, "cv_a");
  b = await signUp(server, "cv_b");
  real.group = await createGroup(a, [b]);
  real.message = (await send(a, { conversationId: real.group, content: "hello" })).id;
  const admin = server.client.as({ apiKey: TEST_API_KEY });
  const ok = async (query: string, variables: Record<string, unknown> = {}) => {
    const r = await admin.raw<Record<string, { id: string } & Record<string, { id: string }>>, unknown>(
      query,
      variables,
    );
    if (r.errors?.length || !r.data) throw new Error(`setup failed: ${JSON.stringify(r.errors)}`);
    return r.data;
  };
  real.topic = (await ok(`mutation { createTopic(key: "cv-topic", name: "Probe") { id } }`)).createTopic
    ?.id as string;
  real.broadcast = (
    await ok(`mutation ($u: [String!]) { broadcast(input: { title: "t", body: "b", userIds: $u }) { id } }`, {
      u: [a.id],
    })
  ).broadcast?.id as string;
  await ok(`mutation ($u: String) { addTarget(kind: EMAIL, address: "cv@example.com", userId: $u) { id } }`, {
    u: a.id,
  });
  const created = await ok(
    `mutation ($url: String!) { createWebhookEndpoint(url: $url, eventTypes: ["*"]) { endpoint { id } } }`,
    { url: receiver.url },
  );
  real.endpoint = created.createWebhookEndpoint?.endpoint?.id as string;
});

afterAll(async () => {
  await receiver?.close();
});

describe("cursor and id arguments answer coded errors", () => {
  it("events(after:) beyond int8 is BAD_USER_INPUT on `after`, not an internal error", async () => {
    for (const after of [b64("9999999999999999999.1"), b64("1.9999999999999999999")]) {
      const answer = await post(`query ($a: String) { events(after: $a) { totalCount } }`, { a: after });
      expect(answer.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "after" });
    }
  });

  it("every root query and mutation: each cursor and id argument, each bad value", async () => {
    const cases = [...rootCases("query"), ...rootCases("mutation")];
    expect(cases.length).toBeGreaterThan(200);
    const bad: string[] = [];
    for (const c of cases) {
      const why = problem(await post(c.query, c.variables), c.fields, c.value);
      if (why)
        bad.push(
          `${c.operation}(${c.target}: ${JSON.stringify(c.variables[c.target] ?? c.variables).slice(0, 60)}): ${why}`,
        );
    }
    expect(bad).toEqual([]);
  });

  it("every subscription: each cursor and id argument, each bad value (over SSE)", async () => {
    const cases = rootCases("subscription");
    expect(cases.length).toBeGreaterThan(20);
    const bad: string[] = [];
    for (const c of cases) {
      const why = problem(await subscribeOnce(c.query, c.variables), c.fields, c.value);
      if (why)
        bad.push(
          `${c.operation}(${c.target}: ${JSON.stringify(c.variables[c.target]).slice(0, 60)}): ${why}`,
        );
    }
    expect(bad).toEqual([]);
  });

  it("every nested connection: each bad cursor as `after` and as `before`", async () => {
    // A connection added below the root must be listed in NESTED, so it is checked too.
    const nested: string[] = [];
    for (const type of Object.values(schema.getTypeMap())) {
      if (!isObjectType(type) || type.name.startsWith("__")) continue;
      if ([schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()].includes(type)) {
        continue;
      }
      for (const field of Object.values(type.getFields())) {
        if (field.args.some((arg) => CURSOR_ARGS.has(arg.name))) nested.push(`${type.name}.${field.name}`);
      }
    }
    expect(nested.sort()).toEqual(Object.keys(NESTED).sort());
    const bad: string[] = [];
    for (const [name, query] of Object.entries(NESTED)) {
      for (const arg of ["after", "before"]) {
        for (const value of BAD_CURSORS) {
          const why = problem(await post(query(arg), { [arg]: value }), [arg], value);
          if (why) bad.push(`${name}(${arg}: ${JSON.stringify(value).slice(0, 40)}): ${why}`);
        }
      }
    }
    expect(bad).toEqual([]);
  });
});
