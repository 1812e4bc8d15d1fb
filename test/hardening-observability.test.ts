// Observability and operations: /healthz, /readyz (503 naming what failed when a private Redis is
// killed), /metrics (counters and gauges move with real traffic; METRICS_TOKEN protects it; the
// queue_depth callback), X-Request-Id, and the JSON log lines of a real process (request id on
// every line; no message content, password or token).
import { afterAll, describe, expect, inject, it } from "vitest";
import { send } from "./helpers/actions.ts";
import { Client } from "./helpers/client.ts";
import { killAll, startRedis, startServerProcess } from "./helpers/processes.ts";
import { initRaw, openRaw } from "./helpers/raw-ws.ts";
import { signUp, startServer, TEST_API_KEY, TEST_JWT_SECRET, type TestServer } from "./helpers/server.ts";
import { waitUntil } from "./helpers/wait.ts";

afterAll(() => killAll());

const base = (s: TestServer) => s.url.replace(/\/graphql$/, "");
const get = (url: string, headers: Record<string, string> = {}) =>
  fetch(url, { headers }).then(async (r) => ({ status: r.status, headers: r.headers, text: await r.text() }));

/** The value of one sample line (`name{labels} value`) of a /metrics text, or undefined. */
function sample(text: string, name: string, labels = ""): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ""} `));
  return line ? Number(line.split(" ").at(-1)) : undefined;
}

describe("/healthz and /readyz", () => {
  it("healthz is 200; readyz is 200 with the database and Redis up, 503 naming Redis once it is gone", async () => {
    const redis = await startRedis();
    const server = await startServer({ REDIS_URL: redis.url });
    expect(await get(`${base(server)}/healthz`)).toMatchObject({ status: 200 });
    const ready = await get(`${base(server)}/readyz`);
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.text)).toEqual({ status: "ok", checks: { database: "ok", redis: "ok" } });
    await redis.kill();
    const down = await get(`${base(server)}/readyz`);
    expect(down.status).toBe(503);
    expect(JSON.parse(down.text)).toEqual({
      status: "unavailable",
      checks: { database: "ok", redis: "failed" },
      failed: ["redis"],
    });
    // The process itself still runs.
    expect((await get(`${base(server)}/healthz`)).status).toBe(200);
  });

  it("without Redis, readyz checks the database only", async () => {
    const server = await startServer();
    const ready = await get(`${base(server)}/readyz`);
    expect(JSON.parse(ready.text)).toEqual({ status: "ok", checks: { database: "ok" } });
  });
});

describe("/metrics", () => {
  it("counts operations, errors, events, WebSockets and subscriptions, and reports queue depth", async () => {
    const server = await startServer();
    const scrape = async () => (await get(`${base(server)}/metrics`)).text;
    const [a, b] = [await signUp(server, "met_a"), await signUp(server, "met_b")];
    const { conversation } = await send(a, { to: b.username, content: "counted" });
    await b.client.raw("query MetricsMe { me { id } }");
    await new Client(server.url).raw("query MetricsAnon { me { id } }");

    // A live subscription over graphql-ws.
    const socket = await openRaw(server.url);
    await initRaw(socket, b.token);
    socket.send({
      id: "m",
      type: "subscribe",
      payload: {
        query: `subscription MetricsEvents($c: ID!) { messageEvents(conversationId: $c) { seq } }`,
        variables: { c: conversation.id },
      },
    });
    await waitUntil(async () => sample(await scrape(), "graphql_active_subscriptions") === 1, {
      what: "the subscription gauge",
    });
    await send(a, { conversationId: conversation.id, content: "delivered" });
    await socket.next("next");

    server.app.services.metrics?.setQueueDepthSource(async () => 7);
    const text = await scrape();
    expect(sample(text, "websocket_connections_active")).toBe(1);
    expect(sample(text, "queue_depth")).toBe(7);
    expect(
      sample(
        text,
        "graphql_operation_duration_seconds_count",
        'operation_name="MetricsMe",operation_type="query"',
      ),
    ).toBe(1);
    expect(
      sample(
        text,
        "graphql_operation_errors_total",
        'operation_name="MetricsAnon",operation_type="query",code="UNAUTHENTICATED"',
      ),
    ).toBe(1);
    expect(sample(text, "events_published_total")).toBeGreaterThanOrEqual(2);
    expect(sample(text, "events_delivered_total")).toBeGreaterThanOrEqual(1);
    expect(sample(text, "pubsub_reconnects_total")).toBe(0);

    socket.close();
    await waitUntil(
      async () => {
        const t = await scrape();
        return (
          sample(t, "websocket_connections_active") === 0 && sample(t, "graphql_active_subscriptions") === 0
        );
      },
      { what: "the gauges to drop back to 0" },
    );
  });

  it("with METRICS_TOKEN, answers 401 without it and the metrics with it", async () => {
    const token = "metrics-token-0123456789";
    const server = await startServer({ METRICS_TOKEN: token });
    expect((await get(`${base(server)}/metrics`)).status).toBe(401);
    expect(
      (await get(`${base(server)}/metrics`, { authorization: "Bearer wrong-token-0000000" })).status,
    ).toBe(401);
    const ok = await get(`${base(server)}/metrics`, { authorization: `Bearer ${token}` });
    expect(ok.status).toBe(200);
    expect(ok.text).toContain("graphql_operation_duration_seconds");
  });
});

describe("request ids and logs", () => {
  it("keeps a sane incoming X-Request-Id, replaces a bad one, and returns it", async () => {
    const server = await startServer();
    const post = (id?: string) =>
      fetch(server.url, {
        method: "POST",
        headers: { "content-type": "application/json", ...(id ? { "x-request-id": id } : {}) },
        body: JSON.stringify({ query: "{ __typename }" }),
      });
    expect((await post("req-123.abc")).headers.get("x-request-id")).toBe("req-123.abc");
    const replaced = (await post("bad id <script>")).headers.get("x-request-id");
    expect(replaced).toMatch(/^[0-9a-f-]{36}$/);
    expect((await post()).headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("writes JSON lines with the request id, operation name and duration, and no content, password or token", async () => {
    const databaseUrl = inject("databaseUrl");
    const proc = await startServerProcess({
      DATABASE_URL: databaseUrl,
      JWT_SECRET: TEST_JWT_SECRET,
      API_KEY: TEST_API_KEY,
      LOG_LEVEL: "info",
    });
    const client = new Client(proc.url);
    const password = "very-secret-password-42";
    const signed = await client.raw(
      `mutation LogSignUp($u: String!, $p: String!) { signUp(username: $u, password: $p, displayName: "L") { token user { id } } }`,
      { u: `log_${Date.now()}`, p: password },
    );
    const { token, user } = (signed.data as { signUp: { token: string; user: { id: string } } }).signUp;
    const other = await client.raw(
      `mutation LogSignUp2($u: String!) { signUp(username: $u, password: "password123", displayName: "M") { user { id } } }`,
      { u: `log2_${Date.now()}` },
    );
    const otherId = (other.data as { signUp: { user: { id: string } } }).signUp.user.id;
    const content = "top secret message content";
    const sent = await fetch(proc.url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        authorization: `Bearer ${token}`,
        "x-request-id": "trace-me-1",
      },
      body: JSON.stringify({
        query: `mutation LogSend($to: String!, $c: String!) { sendMessage(to: $to, content: $c) { id } }`,
        variables: { to: otherId, c: content },
      }),
    });
    expect(sent.status).toBe(200);
    await waitUntil(() => proc.output().includes("trace-me-1"), { what: "the request's log line" });
    proc.signal("SIGTERM");
    await proc.exited;

    const lines = proc
      .output()
      .split("\n")
      .filter((l) => l.startsWith("{"));
    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const requests = parsed.filter((p) => p.msg === "request completed");
    expect(requests.length).toBeGreaterThanOrEqual(3);
    for (const r of requests) {
      expect(r).toMatchObject({ requestId: expect.any(String), durationMs: expect.any(Number), status: 200 });
    }
    expect(requests.find((r) => r.requestId === "trace-me-1")).toMatchObject({
      operationName: "LogSend",
      path: "/graphql",
      method: "POST",
    });
    const all = proc.output();
    for (const secret of [
      content,
      password,
      token,
      TEST_JWT_SECRET,
      TEST_API_KEY,
      user.id.length ? (token.split(".")[2] ?? "") : "",
    ]) {
      expect(all).not.toContain(secret);
    }
  });
});
