// Request limits (GraphQL Armor, body size, batching, page size), error masking in production,
// introspection / GraphiQL / field-suggestion switches, CSRF prevention, CORS, and graphql-http's
// GraphQL-over-HTTP server audits. Real servers on free ports, real HTTP.
import { readdirSync, readFileSync } from "node:fs";
import http from "node:http";
import { costLimitRule } from "@escape.tech/graphql-armor-cost-limit";
import { maxAliasesRule } from "@escape.tech/graphql-armor-max-aliases";
import { maxDepthRule } from "@escape.tech/graphql-armor-max-depth";
import { maxDirectivesRule } from "@escape.tech/graphql-armor-max-directives";
import { MaxTokensParserWLexer } from "@escape.tech/graphql-armor-max-tokens";
import { buildSchema, type DocumentNode, Kind, parse, validate } from "graphql";
import { serverAudits } from "graphql-http";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../src/core/config.ts";
import { send } from "./helpers/actions.ts";
import {
  signUp,
  startServer,
  TEST_API_KEY,
  TEST_JWT_SECRET,
  useScratchDatabase,
  useServer,
} from "./helpers/server.ts";

type Answer = { status: number; headers: Headers; text: string; body: Record<string, unknown> | null };

/** A raw POST (or any method) to `url`, answer as status, headers, text and parsed JSON. */
async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await fetch(url, {
    method: "POST",
    // The GraphQL-over-HTTP media type: requests refused before execution answer 400 with it.
    headers: { "content-type": "application/json", accept: "application/graphql-response+json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return answer(res);
}

async function answer(res: Response): Promise<Answer> {
  const text = await res.text();
  let body: Record<string, unknown> | null = null;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {}
  return { status: res.status, headers: res.headers, text, body };
}

type Err = { message: string; extensions?: Record<string, unknown> };
const errors = (a: Answer) => (a.body?.errors ?? []) as Err[];
const firstMessage = (a: Answer) => errors(a)[0]?.message ?? "";

/** `{ me { conversations { nodes { ... } } } }`-style nesting: `n` levels of selection sets. */
function nested(levels: number): string {
  // conversation -> lastMessage -> conversation -> lastMessage ...: every level is a real field.
  let inner = "id";
  for (let i = levels; i > 1; i--) inner = `${i % 2 === 0 ? "lastMessage" : "conversation"} { ${inner} }`;
  return `query Deep { conversations(first: 1) { nodes { ${inner} } } }`;
}

describe("request limits (configured small)", () => {
  const server = useServer({
    MAX_DEPTH: "5",
    MAX_ALIASES: "3",
    MAX_COST: "400",
    MAX_TOKENS: "60",
    MAX_DIRECTIVES: "2",
  });

  const run = (query: string) => post(server.url, { query });

  it("depth: 5 levels pass, 6 are refused before execution", async () => {
    // conversations(1) nodes(2) + 3 inner levels = 5
    expect(parse(nested(3)).definitions).toHaveLength(1);
    const ok = await run(nested(3));
    expect(ok.status).toBe(200);
    expect(firstMessage(ok)).not.toMatch(/depth/i);
    const deep = await run(nested(4));
    expect(deep.status).toBe(400);
    expect(firstMessage(deep)).toMatch(/depth limit of 5 exceeded, found 6/);
  });

  it("aliases: 3 pass, 4 are refused", async () => {
    const aliases = (n: number) =>
      `query A { ${Array.from({ length: n }, (_, i) => `a${i}: unread`).join(" ")} }`;
    const ok = await run(aliases(3));
    expect(firstMessage(ok)).not.toMatch(/alias/i);
    const over = await run(aliases(4));
    expect(over.status).toBe(400);
    expect(firstMessage(over)).toMatch(/Aliases limit of 3 exceeded, found 4/);
  });

  it("directives: 2 pass, 3 are refused", async () => {
    const ok = await run("query D { unread @include(if: true) @skip(if: false) }");
    expect(firstMessage(ok)).not.toMatch(/directive/i);
    const over = await run("query D { unread @include(if: true) @skip(if: false) @include(if: true) }");
    expect(over.status).toBe(400);
    expect(firstMessage(over)).toMatch(/Directives limit of 2 exceeded, found 3/);
  });

  it("cost: a page multiplies the cost of what it selects", async () => {
    // cost = first * (2 + 1.5 * (2 + 1.5 * 1)) = first * 7.25: 50 -> 362.5, 60 -> 435
    const page = (first: number) => `query C { conversations(first: ${first}) { nodes { id } } }`;
    const ok = await run(page(50));
    expect(firstMessage(ok)).not.toMatch(/cost/i);
    const over = await run(page(60));
    expect(over.status).toBe(400);
    expect(firstMessage(over)).toMatch(/Cost limit of 400 exceeded, found 435/);
  });

  it("tokens: a document over the token limit is refused while parsing", async () => {
    const fields = (n: number) => `{ ${Array.from({ length: n }, () => "__typename").join(" ")} }`;
    // `{`, `}` and n names: 58 fields = 60 tokens
    const ok = await run(fields(58));
    expect(ok.status).toBe(200);
    const over = await run(fields(59));
    expect(over.status).toBe(400);
    expect(firstMessage(over)).toMatch(/Token limit of 60 exceeded/);
  });
});

describe("default limits fit every operation the tests and the README use", () => {
  const config = loadConfig({ NODE_ENV: "test" }).hardening;
  const schema = buildSchema(readFileSync(new URL("../schema.graphql", import.meta.url), "utf8"));

  /** Every operation of test/operations/*.graphql with the fragments of its file, and every README block. */
  function documents(): { where: string; source: string }[] {
    const out: { where: string; source: string }[] = [];
    const dir = new URL("./operations/", import.meta.url);
    for (const file of readdirSync(dir)) {
      const text = readFileSync(new URL(file, dir), "utf8");
      const doc = parse(text);
      const fragments = doc.definitions.filter((d) => d.kind === Kind.FRAGMENT_DEFINITION);
      for (const op of doc.definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION)) {
        const one: DocumentNode = { kind: Kind.DOCUMENT, definitions: [op, ...fragments] };
        out.push({ where: `${file} ${op.name?.value}`, source: printable(one, text) });
      }
    }
    const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
    for (const block of readme.matchAll(/```graphql\n([\s\S]*?)```/g)) {
      // Operations start at the beginning of a line; their bodies may span lines.
      const text = (block[1] ?? "").replace(/#.*$/gm, "");
      for (const part of text.split(/\n(?=(?:query|mutation|subscription)\b)/)) {
        const source = part.trim();
        if (source) out.push({ where: `README: ${source.slice(0, 40)}`, source });
      }
    }
    return out;
  }
  // Token counts need the source text; the fragments of a file are few, so the whole file bounds it.
  const printable = (_doc: DocumentNode, text: string) => text;

  it("depth, aliases, cost, directives and tokens stay under the defaults", () => {
    const docs = documents();
    expect(docs.length).toBeGreaterThan(50);
    const refused: string[] = [];
    for (const { where, source } of docs) {
      try {
        new MaxTokensParserWLexer(source, { n: config.maxTokens }).parseDocument();
        const errs = validate(schema, parse(source), [
          maxDepthRule({ n: config.maxDepth, flattenFragments: true }),
          maxAliasesRule({ n: config.maxAliases }),
          costLimitRule({ maxCost: config.maxCost }),
          maxDirectivesRule({ n: config.maxDirectives }),
        ]);
        if (errs.length) refused.push(`${where}: ${errs[0]?.message}`);
      } catch (error) {
        refused.push(`${where}: ${String(error)}`);
      }
    }
    expect(refused).toEqual([]);
  });
});

describe("body size, batching and page size", () => {
  const server = useServer({ MAX_BODY_BYTES: "2000", MAX_PAGE_SIZE: "5" });

  const padded = (bytes: number) => {
    const base = JSON.stringify({ query: "{ __typename }", variables: { pad: "" } });
    return JSON.stringify({ query: "{ __typename }", variables: { pad: "x".repeat(bytes - base.length) } });
  };

  it("answers 413 over MAX_BODY_BYTES (declared length), and serves a body of exactly the limit", async () => {
    const atLimit = padded(2000);
    expect(Buffer.byteLength(atLimit)).toBe(2000);
    const ok = await post(server.url, atLimit);
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({ data: { __typename: "Query" } });
    const over = await post(server.url, padded(2001));
    expect(over.status).toBe(413);
    expect(errors(over)[0]?.extensions).toMatchObject({
      code: "BAD_USER_INPUT",
      reason: "PAYLOAD_TOO_LARGE",
    });
  });

  it("answers 413 for a chunked body that grows over the limit, and serves a small chunked one", async () => {
    const chunked = (body: string) =>
      new Promise<{ status: number; text: string }>((resolve, reject) => {
        const req = http.request(server.url, {
          method: "POST",
          headers: { "content-type": "application/json", accept: "application/json" },
        });
        req.on("response", (res) => {
          let text = "";
          res.on("data", (c: Buffer) => {
            text += c.toString();
          });
          res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
        });
        req.on("error", reject);
        // Two writes without a declared length: Node sends Transfer-Encoding: chunked.
        req.write(body.slice(0, 10));
        req.end(body.slice(10));
      });
    const small = await chunked(padded(500));
    expect(small).toMatchObject({ status: 200 });
    expect(JSON.parse(small.text)).toEqual({ data: { __typename: "Query" } });
    const big = await chunked(padded(5000));
    expect(big.status).toBe(413);
  });

  it("refuses batched (array) requests", async () => {
    const batch = await post(server.url, [{ query: "{ __typename }" }, { query: "{ __typename }" }]);
    expect(batch.status).toBeGreaterThanOrEqual(400);
    expect(batch.status).toBeLessThan(500);
    expect(batch.body?.data).toBeUndefined();
  });

  it("caps connection pages at MAX_PAGE_SIZE", async () => {
    const [a, b] = [await signUp(server, "cap_a"), await signUp(server, "cap_b")];
    for (let i = 0; i < 7; i++) await send(a, { to: b.username, content: `m${i}` });
    const res = await post(
      server.url,
      {
        query: `query P($w: String!) { chat(with: $w, first: 100) { totalCount nodes { id } } }`,
        variables: { w: a.username },
      },
      { authorization: `Bearer ${b.token}` },
    );
    const data = res.body?.data as { chat: { totalCount: number; nodes: unknown[] } } | undefined;
    expect(data?.chat.totalCount).toBe(7);
    expect(data?.chat.nodes).toHaveLength(5);
  });
});

describe("introspection, GraphiQL and field suggestions", () => {
  const introspect = (url: string) => post(url, { query: "{ __schema { queryType { name } } }" });
  const graphiql = (url: string) => fetch(url, { headers: { accept: "text/html" } }).then(answer);

  it("production: introspection refused, GraphiQL not served, no field suggestions", async () => {
    const server = await startServer({ NODE_ENV: "production", LOG_LEVEL: "silent" });
    const res = await introspect(server.url);
    expect(res.status).toBe(400);
    expect(firstMessage(res)).toMatch(/introspection/i);
    expect((await post(server.url, { query: "{ __typename }" })).body).toEqual({
      data: { __typename: "Query" },
    });
    const page = await graphiql(server.url);
    expect(page.text).not.toMatch(/graphiql/i);
    const typo = await post(server.url, { query: "{ mee { id } }" });
    expect(typo.status).toBe(400);
    expect(firstMessage(typo)).not.toMatch(/did you mean/i);
  });

  it("production with INTROSPECTION=true and GRAPHIQL=true: both on", async () => {
    const server = await startServer({
      NODE_ENV: "production",
      LOG_LEVEL: "silent",
      INTROSPECTION: "true",
      GRAPHIQL: "true",
    });
    const res = await introspect(server.url);
    expect(res.body).toEqual({ data: { __schema: { queryType: { name: "Query" } } } });
    expect((await graphiql(server.url)).text).toMatch(/graphiql/i);
  });

  it("development: suggestions shown; INTROSPECTION=false turns introspection off there too", async () => {
    const server = await startServer({
      NODE_ENV: "development",
      LOG_LEVEL: "silent",
      INTROSPECTION: "false",
    });
    expect(firstMessage(await post(server.url, { query: "{ mee { id } }" }))).toMatch(/did you mean "me"/i);
    expect((await introspect(server.url)).status).toBe(400);
  });
});

describe("CSRF prevention and CORS", () => {
  const server = useServer({ CORS_ORIGINS: "https://app.example, https://admin.example" });

  it("refuses requests a browser could send cross-site without a preflight", async () => {
    const query = encodeURIComponent("{ __typename }");
    const get = await fetch(`${server.url}?query=${query}`, { headers: { accept: "application/json" } }).then(
      answer,
    );
    expect(get.status).toBe(403);
    const form = await post(server.url, `query=${query}`, {
      "content-type": "application/x-www-form-urlencoded",
    });
    expect(form.status).toBe(403);
    const text = await post(server.url, JSON.stringify({ query: "{ __typename }" }), {
      "content-type": "text/plain",
    });
    expect(text.status).toBe(403);
    expect(errors(text)[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", reason: "CSRF" });
  });

  it("serves JSON POSTs, and GETs that carry a CSRF header or credentials", async () => {
    expect((await post(server.url, { query: "{ __typename }" })).status).toBe(200);
    const query = encodeURIComponent("{ __typename }");
    for (const header of ["x-graphql-yoga-csrf", "apollo-require-preflight"]) {
      const res = await fetch(`${server.url}?query=${query}`, {
        headers: { accept: "application/json", [header]: "1" },
      }).then(answer);
      expect(res.body).toEqual({ data: { __typename: "Query" } });
    }
  });

  it("allows only the configured origins", async () => {
    const preflight = (origin: string) =>
      fetch(server.url, {
        method: "OPTIONS",
        headers: {
          origin,
          "access-control-request-method": "POST",
          "access-control-request-headers": "content-type,authorization",
        },
      });
    const allowed = await preflight("https://app.example");
    expect(allowed.headers.get("access-control-allow-origin")).toBe("https://app.example");
    const other = await preflight("https://evil.example");
    expect(other.headers.get("access-control-allow-origin")).not.toBe("https://evil.example");
  });
});

describe("graphql-http server audits", () => {
  const server = useServer();

  it("passes every MUST audit of the GraphQL-over-HTTP spec with hardening on", async () => {
    const results = await Promise.all(serverAudits({ url: server.url }).map((audit) => audit.fn()));
    const failed = results
      .filter((r) => r.name.startsWith("MUST") && r.status !== "ok")
      .map((r) => `${r.name}: ${"reason" in r ? r.reason : ""}`);
    expect(failed).toEqual([]);
    expect(results.filter((r) => r.status === "ok").length).toBeGreaterThan(20);
  });
});

describe("error masking in production", () => {
  const scratch = useScratchDatabase("hardening_mask", { migrate: true });
  const server = useServer(() => ({
    NODE_ENV: "production",
    LOG_LEVEL: "silent",
    DATABASE_URL: scratch.url,
  }));

  it("an unexpected database failure reaches the client as 'Unexpected error.' with no stack or SQL", async () => {
    const user = await signUp(server, "mask");
    // Break the database under the running server (this test's own scratch database).
    const client = new pg.Client({ connectionString: scratch.url });
    await client.connect();
    try {
      await client.query(`ALTER TABLE "Conversation" RENAME TO "Conversation_gone"`);
    } finally {
      await client.end();
    }
    const res = await post(
      server.url,
      { query: "query Convs { conversations(first: 5) { totalCount nodes { id } } }" },
      { authorization: `Bearer ${user.token}` },
    );
    expect(res.status).toBe(200);
    expect(errors(res).map((e) => e.message)).toEqual(["Unexpected error."]);
    for (const leak of [/Conversation/, /SELECT/i, /prisma/i, /\bat \S+ \(/, /stack/i, /relation/i]) {
      expect(res.text).not.toMatch(leak);
    }
    expect(errors(res)[0]?.extensions ?? {}).not.toHaveProperty("originalError");
    // Keep the other constants used so a config change that drops them fails here, not in prod.
    expect([TEST_API_KEY, TEST_JWT_SECRET].every((s) => !res.text.includes(s))).toBe(true);
  });
});
