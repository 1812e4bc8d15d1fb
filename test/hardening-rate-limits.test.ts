// Rate limits: each trips where configured and not before, answers RATE_LIMITED with retryAfter,
// is per user / per IP / per username as documented, and is shared by instances through Redis (a
// private redis-server: keys of other test files never mix in). Windows of a minute or more are
// checked exactly; per-second ones are checked as "at least the allowance passes, and a fast
// burst trips it", which holds however slow the machine is.
import { afterAll, describe, expect, it } from "vitest";
import { LogInDocument, SignUpDocument } from "./gql/graphql.ts";
import { send } from "./helpers/actions.ts";
import { Client } from "./helpers/client.ts";
import { killAll, startRedis } from "./helpers/processes.ts";
import { initRaw, openRaw } from "./helpers/raw-ws.ts";
import { signUp, startServer, type TestServer, uniqueName } from "./helpers/server.ts";
import { waitUntil } from "./helpers/wait.ts";

afterAll(() => killAll());

// Servers come from startServer, so each test's servers stop when it ends: many idle instances
// would hold database connections that the other test files (running in parallel) need.

type Outcome = { code: unknown; retryAfter: unknown };

/** Runs `attempt` until it answers RATE_LIMITED (at most `max` times); returns every outcome. */
async function untilLimited(attempt: () => Promise<Outcome>, max: number): Promise<Outcome[]> {
  const out: Outcome[] = [];
  for (let i = 0; i < max; i++) {
    const o = await attempt();
    out.push(o);
    if (o.code === "RATE_LIMITED") break;
  }
  return out;
}

const outcome = (res: { errors?: { extensions?: Record<string, unknown> }[] }): Outcome => ({
  code: res.errors?.[0]?.extensions?.code ?? "ok",
  retryAfter: res.errors?.[0]?.extensions?.retryAfter,
});

describe("sendMessage per user", () => {
  it("allows the per-second rate plus the burst, then RATE_LIMITED with retryAfter; other users unaffected", async () => {
    const server = await startServer({ RATE_LIMIT_SEND_PER_SECOND: "1", RATE_LIMIT_SEND_BURST: "5" });
    const [a, b] = [await signUp(server, "rl_a"), await signUp(server, "rl_b")];
    const attempt = async () =>
      outcome(
        await a.client.raw(`mutation S($to: String!) { sendMessage(to: $to, content: "hi") { id } }`, {
          to: b.username,
        }),
      );
    const outcomes = await untilLimited(attempt, 60);
    const last = outcomes.at(-1);
    expect(last?.code).toBe("RATE_LIMITED");
    expect(last?.retryAfter).toBeGreaterThanOrEqual(1);
    expect(last?.retryAfter).toBeLessThanOrEqual(60);
    // 1 a second + 5 of burst: at least 6 went through before the first refusal.
    expect(outcomes.slice(0, -1).every((o) => o.code === "ok")).toBe(true);
    expect(outcomes.length - 1).toBeGreaterThanOrEqual(6);
    // B's own allowance is untouched.
    await send(b, { to: a.username, content: "still fine" });
  });
});

describe("signUp / logIn per IP and per username", () => {
  it("counts signUp and logIn attempts per IP: exactly the configured number pass", async () => {
    const server = await startServer({ RATE_LIMIT_AUTH_PER_IP_PER_MINUTE: "4" });
    const vars = () => ({ username: uniqueName("ip"), password: "password123", displayName: "X" });
    const results = [
      outcome(await server.client.raw(SignUpDocument, vars())),
      outcome(await server.client.raw(SignUpDocument, vars())),
      outcome(await server.client.raw(LogInDocument, { username: uniqueName(), password: "nope-nope" })),
      outcome(await server.client.raw(SignUpDocument, vars())),
      outcome(await server.client.raw(SignUpDocument, vars())),
      outcome(await server.client.raw(LogInDocument, { username: uniqueName(), password: "nope-nope" })),
    ];
    expect(results.map((r) => r.code)).toEqual([
      "ok",
      "ok",
      "UNAUTHENTICATED",
      "ok",
      "RATE_LIMITED",
      "RATE_LIMITED",
    ]);
    expect(results[4]?.retryAfter).toBeGreaterThanOrEqual(1);
    expect(results[4]?.retryAfter).toBeLessThanOrEqual(60);
  });

  it("trusts X-Forwarded-For only with TRUST_PROXY", async () => {
    const viaProxy = (server: TestServer, ip: string) =>
      fetch(server.url, {
        method: "POST",
        headers: { "content-type": "application/json", "x-forwarded-for": `10.9.9.9, ${ip}` },
        body: JSON.stringify({
          query: LogInDocument.toString(),
          variables: { username: "nobody", password: "x" },
        }),
      }).then(async (r) => outcome((await r.json()) as never).code);
    const trusting = await startServer({ RATE_LIMIT_AUTH_PER_IP_PER_MINUTE: "1", TRUST_PROXY: "1" });
    // The rightmost entry is the client our proxy saw: one attempt each for two clients.
    expect(await viaProxy(trusting, "203.0.113.1")).toBe("UNAUTHENTICATED");
    expect(await viaProxy(trusting, "203.0.113.2")).toBe("UNAUTHENTICATED");
    expect(await viaProxy(trusting, "203.0.113.1")).toBe("RATE_LIMITED");
    const plain = await startServer({ RATE_LIMIT_AUTH_PER_IP_PER_MINUTE: "1" });
    // Without TRUST_PROXY the header is the client's word: both attempts are the socket's IP.
    expect(await viaProxy(plain, "203.0.113.1")).toBe("UNAUTHENTICATED");
    expect(await viaProxy(plain, "203.0.113.2")).toBe("RATE_LIMITED");
  });

  it("locks a username after the configured failed logIns, even for the right password; a success clears the count", async () => {
    const server = await startServer({ RATE_LIMIT_LOGIN_FAILURES_PER_USERNAME: "3" });
    const victim = await signUp(server, "bf");
    const other = await signUp(server, "bf");
    const logIn = async (username: string, password: string) =>
      outcome(await server.client.raw(LogInDocument, { username, password })).code;
    // Two failures, then a success clears them.
    expect([await logIn(victim.username, "wrong-1"), await logIn(victim.username, "wrong-2")]).toEqual([
      "UNAUTHENTICATED",
      "UNAUTHENTICATED",
    ]);
    expect(await logIn(victim.username, "password123")).toBe("ok");
    const codes = [];
    for (let i = 0; i < 3; i++) codes.push(await logIn(victim.username, `wrong-${i}`));
    codes.push(await logIn(victim.username, "password123"));
    expect(codes).toEqual(["UNAUTHENTICATED", "UNAUTHENTICATED", "UNAUTHENTICATED", "RATE_LIMITED"]);
    // Another username is not affected.
    expect(await logIn(other.username, "password123")).toBe("ok");
  });
});

describe("typing and signals per user", () => {
  it("setTyping and signal trip their per-second limits", async () => {
    const server = await startServer({
      RATE_LIMIT_TYPING_PER_SECOND: "2",
      RATE_LIMIT_SIGNAL_PER_SECOND: "3",
    });
    const [a, b] = [await signUp(server, "ty_a"), await signUp(server, "ty_b")];
    const { conversation } = await send(a, { to: b.username, content: "hello" });
    for (const [mutation, allowance] of [
      [`mutation T($c: ID!) { setTyping(conversationId: $c, typing: true) }`, 2],
      [`mutation G($c: ID!) { signal(conversationId: $c, type: "cursor", payload: { x: 1 }) }`, 3],
    ] as const) {
      const outcomes = await untilLimited(
        async () => outcome(await a.client.raw(mutation, { c: conversation.id })),
        100,
      );
      expect(outcomes.at(-1)?.code).toBe("RATE_LIMITED");
      expect(outcomes.length - 1).toBeGreaterThanOrEqual(allowance);
    }
  });
});

describe("WebSocket connections and subscriptions", () => {
  it("closes the connection over the per-user limit with 4429; another user still connects", async () => {
    const server = await startServer({ RATE_LIMIT_WS_CONNECTIONS_PER_MINUTE: "3" });
    const [a, b] = [await signUp(server, "ws_a"), await signUp(server, "ws_b")];
    const sockets = [];
    for (let i = 0; i < 3; i++) {
      const s = await openRaw(server.url);
      await initRaw(s, a.token);
      sockets.push(s);
    }
    const fourth = await openRaw(server.url);
    fourth.send({ type: "connection_init", payload: { authorization: `Bearer ${a.token}` } });
    const closed = await fourth.waitClose();
    expect(closed.code).toBe(4429);
    expect(closed.reason).toMatch(/Too many connections: retry in \d+ s/);
    const other = await openRaw(server.url);
    await initRaw(other, b.token);
    for (const s of [...sockets, other]) s.close();
  });

  it("refuses operations past the per-socket limit with RATE_LIMITED, and allows one again when another ends", async () => {
    const server = await startServer({ WS_MAX_SUBSCRIPTIONS_PER_SOCKET: "2" });
    const [a, b] = [await signUp(server, "sub_a"), await signUp(server, "sub_b")];
    const { conversation } = await send(a, { to: b.username, content: "hello" });
    const socket = await openRaw(server.url);
    await initRaw(socket, a.token);
    const subscribe = (id: string) =>
      socket.send({
        id,
        type: "subscribe",
        payload: {
          query: `subscription T($c: ID!) { typing(conversationId: $c) { typing } }`,
          variables: { c: conversation.id },
        },
      });
    const hub = server.app.services.hub;
    const before = hub.size;
    subscribe("1");
    subscribe("2");
    await waitUntil(() => hub.size >= before + 2, { what: "two subscriptions to listen" });
    subscribe("3");
    const refused = await socket.next("error");
    expect(refused.id).toBe("3");
    expect(refused.payload).toMatchObject([{ extensions: { code: "RATE_LIMITED", retryAfter: 1 } }]);
    socket.send({ id: "1", type: "complete" });
    await waitUntil(() => hub.size === before + 1, { what: "the first subscription to end" });
    subscribe("4");
    await waitUntil(() => hub.size === before + 2, { what: "the fourth subscription to listen" });
    expect(socket.frames.filter((f) => f.type === "error").map((f) => f.id)).toEqual(["3"]);
    socket.close();
  });
});

describe("shared across instances through Redis", () => {
  it("two instances share one allowance; with Redis gone each falls back to its own memory limit", async () => {
    const redis = await startRedis();
    const env = { REDIS_URL: redis.url, RATE_LIMIT_AUTH_PER_IP_PER_MINUTE: "3" };
    const [s1, s2] = [await startServer(env), await startServer(env)];
    const attempt = async (s: TestServer) =>
      outcome(await new Client(s.url).raw(LogInDocument, { username: uniqueName(), password: "nope-nope" }))
        .code;
    expect([await attempt(s1), await attempt(s2), await attempt(s1), await attempt(s2)]).toEqual([
      "UNAUTHENTICATED",
      "UNAUTHENTICATED",
      "UNAUTHENTICATED",
      "RATE_LIMITED",
    ]);
    await redis.kill();
    // The insurance limiter (memory, per instance) takes over: requests neither fail nor go unlimited.
    const codes = await untilLimited(async () => ({ code: await attempt(s2), retryAfter: undefined }), 10);
    expect(codes.at(-1)?.code).toBe("RATE_LIMITED");
    expect(codes.slice(0, -1).every((c) => c.code === "UNAUTHENTICATED")).toBe(true);
  });
});
