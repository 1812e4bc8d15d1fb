// PostgreSQL unreachable: requests that need the database answer a coded, retryable error,
// `extensions.code: "UNAVAILABLE"`, with HTTP 503 and a Retry-After header, instead of a masked
// "Unexpected error."; nothing that failed is acknowledged or stored. The server (its own process)
// reaches the shared PostgreSQL through a TCP proxy that the test cuts and restores: the shared
// server itself is never stopped.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { isDatabaseUnavailable } from "../src/core/errors.ts";
import {
  ChatForFaultsDocument,
  MeDocument,
  SendMessageForFaultsDocument,
  SignUpDocument,
} from "./gql/graphql.ts";
import { Client, type Result } from "./helpers/client.ts";
import { freePort, killAll, type ServerProc, startServerProcess } from "./helpers/processes.ts";
import { TEST_JWT_SECRET, uniqueName } from "./helpers/server.ts";
import { startTcpProxy, type TcpProxy } from "./helpers/tcp-proxy.ts";
import { waitUntil, within } from "./helpers/wait.ts";

let proxy: TcpProxy;
let server: ServerProc;
beforeAll(async () => {
  const direct = new URL(inject("databaseUrl"));
  proxy = await startTcpProxy(Number(direct.port || 5432), direct.hostname);
  const proxied = new URL(direct);
  proxied.port = String(proxy.port);
  proxied.hostname = "127.0.0.1";
  server = await startServerProcess({
    DATABASE_URL: proxied.toString(),
    JWT_SECRET: TEST_JWT_SECRET,
    // The log reader and job workers retry on their own; keep their polling out of the way.
    EVENT_POLL_MS: "60000",
    JOB_CONCURRENCY: "0",
  });
});
afterAll(async () => {
  await proxy?.restore();
  server?.signal("SIGTERM");
  if (server) await within(server.exited, 15_000, "the server to exit").catch(() => killAll());
  await killAll();
  await proxy?.close();
});

/** A POST with the response's status and headers kept. */
async function post(token: string, query: string, variables: Record<string, unknown>) {
  const res = await fetch(server.url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json",
      authorization: `Bearer ${token}`,
    },
    body: JSON.stringify({ query, variables }),
  });
  return {
    status: res.status,
    retryAfter: res.headers.get("retry-after"),
    body: (await res.json()) as Result<unknown>,
  };
}

describe("PostgreSQL unreachable", () => {
  it("sends and queries answer UNAVAILABLE with HTTP 503 and Retry-After; nothing false is acknowledged", async () => {
    const client = new Client(server.url);
    const signUp = async () =>
      (
        await client.ok(SignUpDocument, {
          username: uniqueName("pgd"),
          password: "password123",
          displayName: "D",
        })
      ).signUp;
    const [alice, bob] = [await signUp(), await signUp()];
    const a = client.as({ token: alice.token });
    await a.ok(SendMessageForFaultsDocument, { to: bob.user.id, content: "before the outage" });

    await proxy.cut();
    const sent = await post(alice.token, SendMessageForFaultsDocument.toString(), {
      to: bob.user.id,
      content: "during the outage",
    });
    const read = await post(alice.token, MeDocument.toString(), {});
    for (const answer of [sent, read]) {
      expect(answer.body.errors?.[0]?.extensions?.code, JSON.stringify(answer.body)).toBe("UNAVAILABLE");
      expect(answer.body.errors?.[0]?.message).not.toBe("Unexpected error.");
      expect(answer.status).toBe(503);
      expect(Number(answer.retryAfter)).toBeGreaterThan(0);
      // No detail of the failure (addresses, SQL) reaches the client.
      expect(JSON.stringify(answer.body)).not.toMatch(/127\.0\.0\.1|ECONNREFUSED|prisma/i);
    }
    expect(sent.body.data ?? null).toBeNull();

    // Back: the server recovers by itself, and the send that failed was not stored.
    await proxy.restore();
    await waitUntil(async () => (await post(alice.token, MeDocument.toString(), {})).status === 200, {
      what: "the server to reach PostgreSQL again",
      timeoutMs: 20_000,
      everyMs: 200,
    });
    const after = (await a.ok(SendMessageForFaultsDocument, { to: bob.user.id, content: "after the outage" }))
      .sendMessage;
    const { chat } = await client
      .as({ token: bob.token })
      .ok(ChatForFaultsDocument, { with: alice.user.id, first: 10 });
    expect(chat.nodes.map((m) => m.content)).toEqual(["after the outage", "before the outage"]);
    expect(after.seq).toBe(2);
  });
});

describe("what counts as the database being unavailable", () => {
  /** The error `fn` rejects with. */
  const failure = async (fn: () => Promise<unknown>) => {
    try {
      await fn();
    } catch (error) {
      return error;
    }
    throw new Error("expected a failure");
  };

  it("refused and terminated connections do; errors of a working database do not", async () => {
    const port = await freePort();
    const refused = await failure(async () => {
      const c = new pg.Client({ connectionString: `postgresql://postgres@127.0.0.1:${port}/x` });
      await c.connect();
    });
    expect(isDatabaseUnavailable(refused)).toBe(true);

    // A session the server ends (as on a restart: 57P01), then the dead client used again.
    const client = new pg.Client({ connectionString: inject("databaseUrl") });
    client.on("error", () => {});
    await client.connect();
    const terminated = await failure(() => client.query("SELECT pg_terminate_backend(pg_backend_pid())"));
    expect(isDatabaseUnavailable(terminated)).toBe(true);
    const dead = await failure(() => client.query("SELECT 1"));
    expect(isDatabaseUnavailable(dead)).toBe(true);
    await client.end().catch(() => {});

    const working = new pg.Client({ connectionString: inject("databaseUrl") });
    await working.connect();
    try {
      expect(isDatabaseUnavailable(await failure(() => working.query("SELECT 1/0")))).toBe(false);
      expect(isDatabaseUnavailable(await failure(() => working.query("SELECT * FROM no_such_table")))).toBe(
        false,
      );
      expect(isDatabaseUnavailable(new Error("Unique constraint failed"))).toBe(false);
    } finally {
      await working.end();
    }
  });
});
