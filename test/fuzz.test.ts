// Fuzz over every mutation's arguments, generated from schema.graphql (so new mutations are covered
// without touching this file): empty, huge, wrong types, malformed ids, odd unicode, nulls, next to
// real ids. A seeded generator makes the run deterministic and bounded. Every answer must be a
// success or a coded error (or a GraphQL validation / variable error, refused before execution):
// never a 5xx, never a masked "Unexpected error.". And a call that failed must leave every table's
// row count as it was (its own scratch database, so other test files' writes do not interfere).
import { readFileSync } from "node:fs";
import {
  buildSchema,
  type GraphQLInputType,
  getNamedType,
  isEnumType,
  isInputObjectType,
  isLeafType,
  isListType,
  isNonNullType,
  isScalarType,
} from "graphql";
import { beforeAll, describe, expect, it } from "vitest";
import { createGroup, send } from "./helpers/actions.ts";
import { SESSION_ENDING, sampleValue, sessionEndingLast } from "./helpers/schema-values.ts";
import { signUp, TEST_API_KEY, type TestUser, useScratchDatabase, useServer } from "./helpers/server.ts";
import { useSql } from "./helpers/sql.ts";

const CASES_PER_MUTATION = 12;
const SEED = 20_261_124;

const CODES = new Set([
  "UNAUTHENTICATED",
  "FORBIDDEN",
  "NOT_FOUND",
  "BAD_USER_INPUT",
  "CONFLICT",
  "RATE_LIMITED",
]);
/** Refusals before execution: the request never reached a resolver. */
const PRE_EXECUTION = new Set(["GRAPHQL_VALIDATION_FAILED", "GRAPHQL_PARSE_FAILED", "BAD_REQUEST"]);

/** mulberry32: small, seeded, good enough to pick cases. */
function random(seed: number) {
  let t = seed >>> 0;
  return () => {
    t = (t + 0x6d2b79f5) >>> 0;
    let r = Math.imul(t ^ (t >>> 15), 1 | t);
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
    return ((r ^ (r >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const schema = buildSchema(readFileSync(new URL("../schema.graphql", import.meta.url), "utf8"));

const scratch = useScratchDatabase("fuzz", { migrate: true });
// Hundreds of calls from one user and one IP on purpose: only the rate limits are raised.
const server = useServer(() => ({
  DATABASE_URL: scratch.url,
  RATE_LIMIT_SEND_PER_SECOND: "100000",
  RATE_LIMIT_AUTH_PER_IP_PER_MINUTE: "100000",
  RATE_LIMIT_TYPING_PER_SECOND: "100000",
  RATE_LIMIT_SIGNAL_PER_SECOND: "100000",
}));
const sql = useSql(() => scratch.url);
let a: TestUser;
let b: TestUser;
const real = { ids: [] as string[], usernames: [] as string[] };

beforeAll(async () => {
  a = await signUp(server, "fz_a");
  b = await signUp(server, "fz_b");
  const group = await createGroup(a, [b]);
  const m = await send(a, { conversationId: group, content: "hello" });
  const d = await send(b, { to: a.username, content: "direct" });
  real.ids = [group, m.id, d.id, d.conversation.id, a.id, b.id];
  real.usernames = [a.username, b.username];
});

/** Row counts of every table of the app's schema. */
async function counts(): Promise<Record<string, number>> {
  const tables = await sql.query<{ name: string }>(
    `SELECT table_name AS name FROM information_schema.tables
      WHERE table_schema = 'public' AND table_type = 'BASE TABLE' AND table_name <> '_prisma_migrations'
      ORDER BY 1`,
  );
  if (tables.length === 0) return {};
  const rows = await sql.query<Record<string, string>>(
    `SELECT ${tables.map((t, i) => `(SELECT count(*) FROM "${t.name}") AS c${i}`).join(", ")}`,
  );
  return Object.fromEntries(tables.map((t, i) => [t.name, Number(rows[0]?.[`c${i}`])]));
}

const ODD = [
  "",
  " ",
  "\u0000",
  "\u202e\u0041\u200b\ufeff",
  "\ud800",
  "😀".repeat(500),
  "<script>alert(1)</script>",
  "' OR 1=1 --",
  "%00%ff",
  "a".repeat(200_000),
];
const BAD_IDS = [
  "not-a-uuid",
  "00000000-0000-0000-0000-000000000000",
  "-1",
  "1e9",
  "{}",
  "ZZZZZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZZZZZZZZZ",
];
const WRONG = [null, 0, -1, 2 ** 31, 1e308, true, [], {}, [null], { $where: "1" }, "x".repeat(10)];

/** One fuzzed value for an argument of `type`. */
function fuzz(type: GraphQLInputType, rnd: () => number, depth = 0): unknown {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rnd() * list.length)] as T;
  const roll = rnd();
  if (roll < 0.1) return pick(WRONG); // wrong type or null, whatever the argument wants
  if (isNonNullType(type)) return fuzz(type.ofType, rnd, depth);
  if (isListType(type)) {
    if (depth > 2 || roll < 0.2) return [];
    return Array.from({ length: Math.floor(rnd() * 4) }, () => fuzz(type.ofType, rnd, depth + 1));
  }
  if (isEnumType(type)) return roll < 0.8 ? pick(type.getValues()).value : "NOT_A_VALUE";
  if (isInputObjectType(type)) {
    return Object.fromEntries(
      Object.values(type.getFields()).map((f) => [f.name, fuzz(f.type, rnd, depth + 1)]),
    );
  }
  if (isScalarType(type)) {
    switch (type.name) {
      case "ID":
        return roll < 0.5 ? pick(real.ids) : pick(BAD_IDS);
      case "String":
        return roll < 0.35 ? pick([...real.usernames, ...real.ids]) : roll < 0.5 ? "ok text" : pick(ODD);
      case "Int":
        return pick([0, 1, -1, 5, 2 ** 31 - 1, -(2 ** 31)]);
      case "Float":
        return pick([0, -1.5, 1e308, Number.MIN_VALUE]);
      case "Boolean":
        return roll < 0.5;
      case "DateTime":
        return pick([
          "2030-01-01T00:00:00Z",
          "1970-01-01T00:00:00Z",
          "not a date",
          "9999-99-99",
          new Date().toISOString(),
        ]);
      default:
        // JSON and scalars added later: objects, deep nesting, big arrays, plain values.
        return pick([
          {},
          { a: 1 },
          JSON.parse(`${"[".repeat(200)}${"]".repeat(200)}`),
          Array(1000).fill("x"),
          "s",
          1,
        ]);
    }
  }
  return null;
}

/** A well-formed value of `type` (for the warm-up calls, which should reach their resolvers). */
function plausible(type: GraphQLInputType): unknown {
  const byScalar: Record<string, unknown> = {
    ID: real.ids[0],
    String: "warm-up",
    Int: 1,
    Float: 1,
    Boolean: true,
    DateTime: "2030-01-01T00:00:00Z",
  };
  return sampleValue(type, { scalar: (name) => (name in byScalar ? byScalar[name] : {}) });
}

describe("fuzzing every mutation's arguments", () => {
  it("answers successes and coded errors only, and a failed call writes nothing", async () => {
    // Those that can end a session go last, so that every other mutation is fuzzed signed in.
    const mutations = sessionEndingLast(Object.values(schema.getMutationType()?.getFields() ?? {}));
    expect(mutations.length).toBeGreaterThan(10);
    const rnd = random(SEED);
    // One unchecked call of each first: lazily created defaults (such as built-in templates) are
    // then in place, and are not mistaken for a failed call's write.
    for (const field of mutations.filter((f) => !SESSION_ENDING.has(f.name))) {
      const required = field.args.filter((arg) => isNonNullType(arg.type));
      const defs = required.map((arg) => `$${arg.name}: ${String(arg.type)}`).join(", ");
      const call = required.length
        ? `(${required.map((arg) => `${arg.name}: $${arg.name}`).join(", ")})`
        : "";
      const selection = isLeafType(getNamedType(field.type)) ? "" : " { __typename }";
      await fetch(server.url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          authorization: `Bearer ${a.token}`,
          "x-api-key": TEST_API_KEY,
        },
        body: JSON.stringify({
          query: `mutation Warm${defs ? `(${defs})` : ""} { ${field.name}${call}${selection} }`,
          variables: Object.fromEntries(required.map((arg) => [arg.name, plausible(arg.type)])),
        }),
      });
    }
    const bad: { mutation: string; status: number; problem: string; variables: string }[] = [];
    let failures = 0;
    let successes = 0;
    for (const field of mutations) {
      for (let i = 0; i < CASES_PER_MUTATION; i++) {
        // Some cases leave optional arguments out, the others fuzz every one.
        const args = field.args.filter((arg) => isNonNullType(arg.type) || rnd() < 0.7);
        const defs = args.map((arg) => `$${arg.name}: ${String(arg.type)}`).join(", ");
        const call = args.length ? `(${args.map((arg) => `${arg.name}: $${arg.name}`).join(", ")})` : "";
        const selection = isLeafType(getNamedType(field.type)) ? "" : " { __typename }";
        const query = `mutation Fuzz${defs ? `(${defs})` : ""} { ${field.name}${call}${selection} }`;
        const variables = Object.fromEntries(args.map((arg) => [arg.name, fuzz(arg.type, rnd)]));
        const before = await counts();
        const res = await fetch(server.url, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            accept: "application/graphql-response+json",
            authorization: `Bearer ${a.token}`,
            // Half the calls also carry the API key, so system mutations get past their scope.
            ...(i % 2 ? { "x-api-key": TEST_API_KEY } : {}),
          },
          body: JSON.stringify({ query, variables }),
        });
        const text = await res.text();
        let body: { data?: unknown; errors?: { message: string; extensions?: { code?: string } }[] } = {};
        try {
          body = JSON.parse(text);
        } catch {
          bad.push({
            mutation: field.name,
            status: res.status,
            problem: `not JSON: ${text.slice(0, 80)}`,
            variables: "",
          });
          continue;
        }
        const shown = JSON.stringify(variables).slice(0, 160);
        const errors = body.errors ?? [];
        if (res.status >= 500)
          bad.push({
            mutation: field.name,
            status: res.status,
            problem: text.slice(0, 160),
            variables: shown,
          });
        for (const e of errors) {
          const code = e.extensions?.code ?? "";
          const refusedEarly = PRE_EXECUTION.has(code) || (res.status === 400 && !body.data);
          if (!CODES.has(code) && !refusedEarly) {
            bad.push({
              mutation: field.name,
              status: res.status,
              problem: `${code || "no code"}: ${e.message.slice(0, 120)}`,
              variables: shown,
            });
          }
          if (/unexpected error/i.test(e.message)) {
            bad.push({
              mutation: field.name,
              status: res.status,
              problem: "masked unexpected error",
              variables: shown,
            });
          }
        }
        if (errors.length) {
          failures++;
          const after = await counts();
          if (JSON.stringify(after) !== JSON.stringify(before)) {
            const changed = Object.keys(after).filter((t) => after[t] !== before[t]);
            bad.push({
              mutation: field.name,
              status: res.status,
              problem: `partial write in ${changed.join(", ")} (${errors[0]?.extensions?.code}: ${errors[0]?.message})`,
              variables: shown,
            });
          }
        } else {
          successes++;
        }
      }
    }
    expect(bad).toEqual([]);
    // The fuzz reached resolvers both ways: some calls succeeded and most were refused.
    expect(successes).toBeGreaterThan(0);
    expect(failures).toBeGreaterThan(mutations.length * 3);
  });
});
