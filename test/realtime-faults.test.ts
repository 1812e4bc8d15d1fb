// Fault injection and protocol rules for the realtime path, with real processes: a private
// redis-server that is SIGKILLed and restarted, app instances as their own processes that are
// SIGKILLed or SIGTERMed mid-stream, and a hand-written graphql-transport-ws client. Every process a
// test starts is ended by its pid; the shared Redis (6379) and PostgreSQL servers are never touched.
import http from "node:http";
import { Redis } from "ioredis";
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import {
  ChatForFaultsDocument,
  MessageEventsForFaultsDocument,
  type MessageEventsForFaultsSubscription,
  SendMessageForFaultsDocument,
  type SendMessageForFaultsMutation,
  type SendMessageForFaultsMutationVariables,
} from "./gql/graphql.ts";
import { Client } from "./helpers/client.ts";
import { startLatencyProxy } from "./helpers/latency-proxy.ts";
import {
  killAll,
  type RedisProc,
  type ServerProc,
  startRedis,
  startServerProcess,
} from "./helpers/processes.ts";
import { initRaw, openRaw, type RawSocket } from "./helpers/raw-ws.ts";
import {
  signUp,
  startServer,
  TEST_JWT_SECRET,
  type TestServer,
  type TestUser,
  useServer,
  useServers,
} from "./helpers/server.ts";
import { useSql } from "./helpers/sql.ts";
import { type Subscription, subscribeWs, wsClient } from "./helpers/subscriptions.ts";
import { sleep, waitUntil, within } from "./helpers/wait.ts";

const SHARED_REDIS = "redis://127.0.0.1:6379";

type Sent = SendMessageForFaultsMutation["sendMessage"];
type Ev = MessageEventsForFaultsSubscription["messageEvents"];
type Events = Subscription<MessageEventsForFaultsSubscription>;

/** sendMessage that must succeed: HTTP 200, no errors, a message back. */
async function send(client: Client, vars: SendMessageForFaultsMutationVariables): Promise<Sent> {
  const result = await client.raw(SendMessageForFaultsDocument, vars);
  if (result.status !== 200 || result.errors?.length || !result.data) {
    throw new Error(`sendMessage failed (HTTP ${result.status}): ${JSON.stringify(result.errors ?? result)}`);
  }
  return result.data.sendMessage;
}

/** `user`, talking to the instance at `url`. */
const via = (url: string, user: TestUser) => new Client(url, { token: user.token });

const events = (sub: Events): Ev[] => sub.values.map((v) => v.messageEvents);
const ids = (list: readonly { id: string }[]) => list.map((m) => m.id);
const eventIds = (list: readonly Ev[]) => list.map((e) => e.message.id);

/** Consecutive integers from `from`, `count` of them. */
const run = (from: number, count: number) => Array.from({ length: count }, (_, i) => from + i);

/** Subscribes `viewer` on an in-process instance and resolves once its stream listens to the hub. */
async function subscribeListening(
  server: TestServer,
  viewer: TestUser,
  variables: { conversationId: string; after?: string },
) {
  const hub = server.app.services.hub;
  const before = hub.size;
  const ws = wsClient(server.url, viewer.token);
  const sub = subscribeWs(ws, MessageEventsForFaultsDocument, variables);
  await waitUntil(() => hub.size > before || sub.completed, { what: "the subscription to listen" });
  if (sub.completed) throw new Error(`subscription ended early: ${JSON.stringify(sub.error ?? sub.results)}`);
  return { ws, sub };
}

/**
 * A resume cursor taken from a live subscription: the cursor of a fresh message `sender` sends.
 * Subscribing with `after` = it then replays exactly what comes later, so a subscriber misses
 * nothing sent after this call (on any instance, also a process whose hub the test cannot see).
 * Events before the anchor are skipped: a subscription without `after` may start before the moment
 * it was opened (see "subscription start point").
 */
async function anchorCursor(server: TestServer, viewer: TestUser, sender: TestUser, conversationId: string) {
  const hub = server.app.services.hub;
  const base = hub.size;
  const { ws, sub } = await subscribeListening(server, viewer, { conversationId });
  try {
    const anchor = await send(via(server.url, sender), { conversationId, content: "anchor" });
    await waitUntil(() => eventIds(events(sub)).includes(anchor.id) || sub.completed, {
      what: "the anchor message on a live subscription",
    });
    const event = events(sub).find((e) => e.message.id === anchor.id);
    expect(event?.seq).toBe(anchor.seq);
    return { anchor, cursor: event?.cursor ?? "" };
  } finally {
    await ws.dispose();
    // Gone from the hub too, so the next subscribeListening counts only its own listener.
    await waitUntil(() => hub.size <= base, { what: "the anchor subscription to leave the hub" });
  }
}

/** Asserts `received` is exactly `expected`, once each, in seq order with consecutive seqs. */
function expectExactlyOnceInOrder(received: readonly Ev[], expected: readonly Sent[]) {
  expect(eventIds(received)).toEqual(ids(expected));
  expect(new Set(eventIds(received)).size).toBe(received.length);
  const first = expected[0]?.seq ?? 0;
  expect(received.map((e) => e.seq)).toEqual(run(first, expected.length));
  expect(received.map((e) => e.message.seq)).toEqual(expected.map((m) => m.seq));
  expect(new Set(received.map((e) => e.kind))).toEqual(new Set(received.length ? ["CREATED"] : []));
}

const shared = useServer({ REDIS_URL: SHARED_REDIS });
const sql = useSql();
afterAll(() => killAll());
const databaseUrl = inject("databaseUrl");
const processEnv = () => ({
  DATABASE_URL: databaseUrl,
  REDIS_URL: SHARED_REDIS,
  JWT_SECRET: TEST_JWT_SECRET,
  NODE_ENV: "test",
});

describe("Redis outage and restart", () => {
  let redis: RedisProc;
  let probe: Redis;

  // Registered before the instances: after-hooks run in reverse order, so Redis outlives them.
  beforeAll(async () => {
    redis = await startRedis();
    probe = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => 100 });
    probe.on("error", () => {});
  });
  afterAll(async () => {
    probe?.disconnect();
    if (redis?.running) await redis.kill();
  });
  const [s1, s2] = useServers(2, () => ({ REDIS_URL: redis.url, EVENT_POLL_MS: "500" }));
  afterEach(async () => {
    // The instances stop with Redis up (a test that failed mid-outage left it down): see the
    // SIGTERM test below.
    if (redis && !redis.running) redis = await startRedis(redis.port);
  });

  /** How many connections are subscribed to the `log` topic on our redis-server. */
  const logSubscribers = async () => {
    const reply = (await probe.call("PUBSUB", "NUMSUB", "log")) as [string, number];
    return Number(reply[1]);
  };

  it("delivers every message exactly once, in seq order, through the outage; sends never fail", async () => {
    const [alice, bob] = [await signUp(s1), await signUp(s1)];
    const a = via(s1.url, alice);
    const opening = await send(a, { to: bob.id, content: "opening" });
    const conversationId = opening.conversation.id;
    await probe.connect();

    // B stays connected throughout; C disconnects during the outage and resumes later. Both start
    // right after an anchor message, so exactly the messages sent below are theirs.
    const { cursor: start } = await anchorCursor(s2, bob, alice, conversationId);
    const b = await subscribeListening(s2, bob, { conversationId, after: start });
    const c = await subscribeListening(s2, bob, { conversationId, after: start });
    const sent: Sent[] = [];
    const sendSome = async (count: number, label: string) => {
      for (let i = 0; i < count; i++) sent.push(await send(a, { conversationId, content: `${label} ${i}` }));
    };

    await sendSome(4, "before the outage");
    await b.sub.waitFor(4);
    await c.sub.waitFor(4);
    expectExactlyOnceInOrder(events(b.sub), sent);
    expectExactlyOnceInOrder(events(c.sub), sent);

    // Instances subscribed to `log` now (both should be; that an instance reliably subscribes at
    // startup is the "Redis subscription at startup" test's subject): they must all come back.
    const subscribedBefore = await logSubscribers();
    expect(subscribedBefore).toBeGreaterThan(0);
    const exit = await redis.kill();
    expect(exit.signal).toBe("SIGKILL");
    const resumeFrom = events(c.sub).at(-1)?.cursor ?? "";
    await c.ws.dispose();
    const cBefore = events(c.sub);

    // Redis is down: every send still succeeds (send() asserts it), and B still gets each one.
    await sendSome(4, "during the outage");
    await b.sub.waitFor(8);
    expectExactlyOnceInOrder(events(b.sub), sent);

    // C resumes on the other instance while Redis is still down: exactly what it missed.
    const cWs = wsClient(s1.url, bob.token);
    const cAfter = subscribeWs(cWs, MessageEventsForFaultsDocument, { conversationId, after: resumeFrom });
    await cAfter.waitFor(4);
    expectExactlyOnceInOrder(events(cAfter), sent.slice(4));

    redis = await startRedis(redis.port);
    // The instances come back to Redis on their own and re-subscribe (the probe reconnects too).
    await waitUntil(async () => (await logSubscribers().catch(() => 0)) === subscribedBefore, {
      what: `${subscribedBefore} instance(s) to re-subscribe to \`log\` after the restart`,
      timeoutMs: 15_000,
      everyMs: 100,
    });

    await sendSome(4, "after the restart");
    await b.sub.waitFor(12);
    await cAfter.waitFor(8);
    // Nothing late and nothing doubled (longer than two poll intervals).
    await b.sub.quietFor(1_200);
    await cAfter.quietFor(100);
    expectExactlyOnceInOrder(events(b.sub), sent);
    expectExactlyOnceInOrder([...cBefore, ...events(cAfter)], sent);
    expect(b.sub.completed).toBe(false);
    expect(cAfter.completed).toBe(false);

    await b.ws.dispose();
    await cWs.dispose();
  });
});

describe("Redis subscription at startup", () => {
  it("instances subscribe to `log` and get notices even when Redis answers slowly", async () => {
    const redis = await startRedis();
    // 150 ms between Redis and these instances: their subscriber connection is likely still in
    // ioredis' "connect" state (ready check pending) when the hub subscribes to `log`. Three of
    // them, so the window is hit in practically every run.
    const slow = await startLatencyProxy(redis.port, 150);
    const probe = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    probe.on("error", () => {});
    // Polling too slow to matter here: only a `log` notice through Redis can deliver in time.
    const env = { EVENT_POLL_MS: "60000" };
    const direct = await startServer({ ...env, REDIS_URL: redis.url });
    const behindSlowLink = await Promise.all(
      [0, 1, 2].map(() => startServer({ ...env, REDIS_URL: `redis://127.0.0.1:${slow.port}` })),
    );
    const instances = [direct, ...behindSlowLink];
    try {
      const logSubscribers = async () =>
        Number(((await probe.call("PUBSUB", "NUMSUB", "log")) as [string, number])[1]);
      const [alice, bob] = [await signUp(direct), await signUp(direct)];
      const opening = await send(via(direct.url, alice), { to: bob.id, content: "opening" });
      const conversationId = opening.conversation.id;
      const subs = await Promise.all(
        behindSlowLink.map((s) => subscribeListening(s, bob, { conversationId })),
      );
      // Give every instance time to subscribe (the count can be right for a moment before a
      // reconnect drops a subscription).
      await waitUntil(async () => (await logSubscribers()) === instances.length, {
        what: "`log` subscribers",
        timeoutMs: 2_000,
        everyMs: 50,
      }).catch(() => {});
      await sleep(1_000);

      const next = await send(via(direct.url, alice), { conversationId, content: "via the notice" });
      // Events from before the subscription may come first (see "subscription start point").
      const delivered = () => subs.map((b) => eventIds(events(b.sub)).includes(next.id));
      await waitUntil(() => delivered().every(Boolean), {
        what: "the message on every slow-link instance",
        timeoutMs: 5_000,
      }).catch(() => {});
      expect({ delivered: delivered(), logSubscribers: await logSubscribers() }).toEqual({
        delivered: behindSlowLink.map(() => true),
        logSubscribers: instances.length,
      });
      await Promise.all(subs.map((b) => b.ws.dispose()));
    } finally {
      probe.disconnect();
      // Before Redis goes (startServer would stop them only after the test).
      await Promise.all(instances.map((i) => i.stop()));
      await slow.close();
      await redis.kill();
    }
  });
});

describe("subscription start point", () => {
  it("a subscription without `after` gets no message committed before it was opened", async () => {
    // An instance without Redis whose poll is too slow to matter: it learns of other instances'
    // messages only when its own activity wakes its log reader.
    const quiet = await startServer({ EVENT_POLL_MS: "60000" });
    const [alice, bob] = [await signUp(shared), await signUp(shared)];
    const opening = await send(via(shared.url, alice), { to: bob.id, content: "opening" });
    const conversationId = opening.conversation.id;
    // Sent, committed and acknowledged before bob subscribes: history, which bob would load
    // with a query, not news.
    const before = await send(via(shared.url, alice), { conversationId, content: "before subscribing" });
    const b = await subscribeListening(quiet, bob, { conversationId });
    const after = await send(via(quiet.url, alice), { conversationId, content: "after subscribing" });
    await waitUntil(() => eventIds(events(b.sub)).includes(after.id) || b.sub.completed, {
      what: "the message sent after subscribing",
    });
    expect(eventIds(events(b.sub))).not.toContain(before.id);
    expect(eventIds(events(b.sub))).toEqual([after.id]);
    await b.ws.dispose();
  });
  it("a subscription without `after` skips history even while an older transaction is still open", async () => {
    // An open transaction that began before the history was written keeps the log's horizon (the
    // oldest running transaction) behind it, so "now" cannot be a log position: the stream must
    // start from a snapshot instead, or the message committed before subscribing shows up live.
    const holder = new pg.Client({ connectionString: inject("databaseUrl") });
    await holder.connect();
    try {
      await holder.query("BEGIN");
      await holder.query("SELECT pg_current_xact_id()");
      const [alice, bob] = [await signUp(shared), await signUp(shared)];
      const opening = await send(via(shared.url, alice), { to: bob.id, content: "opening" });
      const conversationId = opening.conversation.id;
      const before = await send(via(shared.url, alice), { conversationId, content: "before subscribing" });
      const b = await subscribeListening(shared, bob, { conversationId });
      const after = await send(via(shared.url, alice), { conversationId, content: "after subscribing" });
      await holder.query("COMMIT");
      await waitUntil(() => eventIds(events(b.sub)).includes(after.id) || b.sub.completed, {
        what: "the message sent after subscribing",
      });
      expect(eventIds(events(b.sub))).toEqual([after.id]);
      expect(eventIds(events(b.sub))).not.toContain(before.id);
      await b.ws.dispose();
    } finally {
      await holder.end();
    }
  });
});

describe("SIGKILLed instances", () => {
  it("subscriber's instance killed mid-stream: resuming elsewhere with `after` loses and doubles nothing", async () => {
    const target = await startServerProcess(processEnv());
    const [alice, bob] = [await signUp(shared), await signUp(shared)];
    const a = via(shared.url, alice);
    const opening = await send(a, { to: bob.id, content: "opening" });
    const conversationId = opening.conversation.id;
    const { anchor, cursor } = await anchorCursor(shared, bob, alice, conversationId);

    // B listens on the process; A sends through the in-process instance at a steady pace.
    const bWs = wsClient(target.url, bob.token);
    const onProcess = subscribeWs(bWs, MessageEventsForFaultsDocument, { conversationId, after: cursor });
    const total = 40;
    const sent: Sent[] = [];
    const sender = (async () => {
      for (let i = 0; i < total; i++) {
        sent.push(await send(a, { conversationId, content: `steady ${i}` }));
        await sleep(30);
      }
    })();
    // If the sender fails, fail fast instead of waiting for deliveries.
    sender.catch(() => {});

    await onProcess.waitFor(8, 15_000);
    const exit = await target.kill();
    expect(exit.signal).toBe("SIGKILL");
    const sentAtKill = sent.length;
    await onProcess.waitForEnd(10_000);
    // The stream ended because the connection dropped, not as a completed subscription.
    expect(onProcess.error).toBeDefined();
    const beforeKill = events(onProcess);
    expect(beforeKill.length).toBeGreaterThanOrEqual(8);

    const resumeFrom = beforeKill.at(-1)?.cursor ?? "";
    const resumedWs = wsClient(shared.url, bob.token);
    const resumed = subscribeWs(resumedWs, MessageEventsForFaultsDocument, {
      conversationId,
      after: resumeFrom,
    });
    await sender;
    expect(sent).toHaveLength(total);
    // The kill really happened mid-stream: sends continued after it.
    expect(sentAtKill).toBeLessThan(total);
    const last = sent.at(-1)?.id;
    await waitUntil(() => eventIds(events(resumed)).includes(last ?? "") || resumed.completed, {
      what: "the last message on the resumed subscription",
    });
    await resumed.quietFor(500);
    expect(resumed.completed).toBe(false);
    expect(sent[0]?.seq).toBe(anchor.seq + 1);
    expectExactlyOnceInOrder([...beforeKill, ...events(resumed)], sent);
    await resumedWs.dispose();
    await bWs.dispose();
  });

  it("sender's instance killed mid-stream: every acknowledged send is delivered, no partial rows", async () => {
    const sender = await startServerProcess(processEnv());
    const [alice, bob] = [await signUp(shared), await signUp(shared)];
    const opening = await send(via(shared.url, alice), { to: bob.id, content: "opening" });
    const conversationId = opening.conversation.id;
    const { anchor, cursor } = await anchorCursor(shared, bob, alice, conversationId);
    const b = await subscribeListening(shared, bob, { conversationId, after: cursor });

    // Three concurrent senders through the process, so requests are in flight when it dies.
    const throughProcess = via(sender.url, alice);
    const acked: Sent[] = [];
    let killed = false;
    let failedAfterKill = 0;
    const worker = async (w: number) => {
      for (let i = 0; i < 60; i++) {
        try {
          acked.push(await send(throughProcess, { conversationId, content: `worker ${w} #${i}` }));
        } catch (error) {
          if (!killed) throw error;
          failedAfterKill++;
          return;
        }
        await sleep(10);
      }
    };
    const workers = [0, 1, 2].map(worker);

    await b.sub.waitFor(10, 15_000);
    killed = true;
    const exit = await sender.kill();
    expect(exit.signal).toBe("SIGKILL");
    const outcomes = await Promise.allSettled(workers);
    expect(outcomes.filter((o) => o.status === "rejected")).toEqual([]);
    // Mid-stream: every worker still had sends to make, and they failed.
    expect(failedAfterKill).toBe(3);
    expect(acked.length).toBeLessThan(180);

    // A last message through the surviving instance takes its seq after every send that committed
    // (conversation row lock), and a conversation's events arrive in seq order: once B has it, B
    // has everything.
    const marker = await send(via(shared.url, alice), { conversationId, content: "marker" });
    await waitUntil(() => eventIds(events(b.sub)).includes(marker.id) || b.sub.completed, {
      what: "the marker on B's subscription",
    });
    await b.sub.quietFor(500);
    expect(b.sub.completed).toBe(false);

    const rows = await sql.query<{ id: string; seq: number; created: number }>(
      `SELECT m.id, m.seq,
              (SELECT count(*)::int FROM "Event" e WHERE e."messageId" = m.id AND e.type = 'message.created') AS created
         FROM "Message" m WHERE m."conversationId" = $1::uuid ORDER BY m.seq`,
      [conversationId],
    );
    // Gap-free seqs, each message with exactly one message.created event, and no event without its row.
    expect(rows.map((r) => r.seq)).toEqual(run(1, rows.length));
    expect(rows.filter((r) => r.created !== 1)).toEqual([]);
    const createdEvents = await sql.count(
      `SELECT count(*)::int AS n FROM "Event" WHERE "conversationId" = $1::uuid AND type = 'message.created'`,
      [conversationId],
    );
    expect(createdEvents).toBe(rows.length);
    const [conversation] = await sql.query<{ lastSeq: number }>(
      `SELECT "lastSeq" FROM "Conversation" WHERE id = $1::uuid`,
      [conversationId],
    );
    expect(conversation?.lastSeq).toBe(rows.length);
    expect(rows.at(-1)?.id).toBe(marker.id);

    // Every acknowledged send is stored with the seq it was acknowledged with ...
    const seqOf = new Map(rows.map((r) => [r.id, r.seq]));
    expect(acked.filter((m) => seqOf.get(m.id) !== m.seq)).toEqual([]);
    // ... and B received exactly what was committed after the anchor (opening and anchor excluded),
    // once, in seq order: the acknowledged sends and any that committed while their answer was lost.
    expect(rows[1]?.id).toBe(anchor.id);
    const received = events(b.sub);
    expect(eventIds(received)).toEqual(rows.slice(2).map((r) => r.id));
    expect(received.map((e) => e.seq)).toEqual(run(3, rows.length - 2));
    const receivedIds = new Set(eventIds(received));
    expect(acked.filter((m) => !receivedIds.has(m.id))).toEqual([]);
    await b.ws.dispose();
  });
});

describe("graphql-transport-ws protocol rules", () => {
  const subscribeFrame = (id: string, variables: Record<string, unknown> = {}) => ({
    id,
    type: "subscribe",
    payload: { query: MessageEventsForFaultsDocument.toString(), variables },
  });
  const sockets: RawSocket[] = [];
  const open = async (protocol?: string) => {
    const socket = await openRaw(shared.url, protocol);
    sockets.push(socket);
    return socket;
  };
  afterAll(() => {
    for (const s of sockets) s.close();
  });

  describe.concurrent("connection rules", () => {
    it("closes with 4408 when no connection_init arrives within the init timeout", async ({ expect }) => {
      const socket = await open();
      const closed = await socket.waitClose(8_000);
      expect(closed.code).toBe(4408);
      expect(socket.frames).toEqual([]);
    });

    it("closes with 4401 on a subscribe before connection_ack", async ({ expect }) => {
      const socket = await open();
      socket.send(subscribeFrame("1"));
      expect((await socket.waitClose()).code).toBe(4401);
      expect(socket.frames).toEqual([]);
    });

    it("closes with 4409 on a second subscribe with the id of a live subscription", async ({ expect }) => {
      const [alice, bob] = [await signUp(shared), await signUp(shared)];
      const opening = await send(via(shared.url, alice), { to: bob.id, content: "opening" });
      const conversationId = opening.conversation.id;
      const { cursor } = await anchorCursor(shared, bob, alice, conversationId);
      const next = await send(via(shared.url, alice), { conversationId, content: "replayed" });

      const socket = await open();
      await initRaw(socket, bob.token);
      socket.send(subscribeFrame("same", { conversationId, after: cursor }));
      // The subscription is live: it replays the message after the cursor.
      const frame = await socket.next("next");
      expect(frame.id).toBe("same");
      expect(frame.payload).toMatchObject({ data: { messageEvents: { message: { id: next.id } } } });
      socket.send(subscribeFrame("same", { conversationId }));
      const closed = await socket.waitClose();
      expect(closed.code).toBe(4409);
      expect(closed.reason).toContain("same");
    });

    it("closes with 4429 on a second connection_init", async ({ expect }) => {
      const socket = await open();
      await initRaw(socket);
      socket.send({ type: "connection_init", payload: {} });
      expect((await socket.waitClose()).code).toBe(4429);
      expect(socket.frames.filter((f) => f.type === "connection_ack")).toHaveLength(1);
    });

    it("closes with 4400 on an invalid message", async ({ expect }) => {
      const invalid = [
        "not json",
        JSON.stringify({ type: "no_such_type" }),
        JSON.stringify({ type: "subscribe", payload: { query: "{ __typename }" } }),
        JSON.stringify({ id: "1", type: "subscribe", payload: { query: 42 } }),
      ];
      const codes = await Promise.all(
        invalid.map(async (message) => {
          const socket = await open();
          await initRaw(socket);
          socket.send(message);
          return (await socket.waitClose()).code;
        }),
      );
      expect(codes).toEqual(invalid.map(() => 4400));
    });

    it("no connection for a client offering only another subprotocol; the right one is picked", async ({
      expect,
    }) => {
      // The server agrees on no subprotocol (and would close with 4406), so the client refuses.
      const refused = await open("graphql-ws").then(
        () => "opened",
        (error: Error) => error.message,
      );
      expect(refused).toBe("Server sent no subprotocol");
      const socket = await openRaw(shared.url, ["graphql-ws", "graphql-transport-ws"]);
      sockets.push(socket);
      expect(socket.ws.protocol).toBe("graphql-transport-ws");
      await initRaw(socket);
    });
  });

  it("answers ping with pong carrying the same payload, before and after connection_init", async () => {
    const socket = await open();
    socket.send({ type: "ping", payload: { early: true } });
    const early = await socket.next("pong");
    expect(early).toEqual({ type: "pong", payload: { early: true } });
    await initRaw(socket);
    socket.send({ type: "ping", payload: { n: 42, nested: { s: "x" } } });
    await waitUntil(() => socket.frames.filter((f) => f.type === "pong").length >= 2, {
      what: "the second pong",
      timeoutMs: 5_000,
    });
    socket.send({ type: "ping" });
    await waitUntil(() => socket.frames.filter((f) => f.type === "pong").length >= 3, {
      what: "the third pong",
      timeoutMs: 5_000,
    });
    expect(socket.frames.filter((f) => f.type === "pong")).toEqual([
      { type: "pong", payload: { early: true } },
      { type: "pong", payload: { n: 42, nested: { s: "x" } } },
      { type: "pong" },
    ]);
    expect(socket.ws.readyState).toBe(socket.ws.OPEN);
  });
});

describe("graceful shutdown (SIGTERM)", () => {
  let target: ServerProc;
  beforeAll(async () => {
    target = await startServerProcess(processEnv());
  });

  it("closes WebSockets with 1001, refuses new connections, finishes the in-flight request, exits 0", async () => {
    const [alice, bob] = [await signUp(shared), await signUp(shared)];
    const opening = await send(via(shared.url, alice), { to: bob.id, content: "opening" });
    const conversationId = opening.conversation.id;
    const { cursor } = await anchorCursor(shared, bob, alice, conversationId);
    const replayed = await send(via(shared.url, alice), { conversationId, content: "replayed" });

    // A live subscription on the process.
    const socket = await openRaw(target.url);
    await initRaw(socket, bob.token);
    socket.send({
      id: "s",
      type: "subscribe",
      payload: {
        query: MessageEventsForFaultsDocument.toString(),
        variables: { conversationId, after: cursor },
      },
    });
    expect((await socket.next("next")).payload).toMatchObject({
      data: { messageEvents: { message: { id: replayed.id } } },
    });

    // An in-flight request: headers are in (the server answered 100 Continue), the body is not yet.
    const body = JSON.stringify({
      query: SendMessageForFaultsDocument.toString(),
      variables: { conversationId, content: "sent during shutdown" },
    });
    const request = http.request(target.url, {
      method: "POST",
      agent: false,
      headers: {
        "content-type": "application/json",
        accept: "application/json",
        "content-length": Buffer.byteLength(body),
        authorization: `Bearer ${alice.token}`,
        expect: "100-continue",
        connection: "close",
      },
    });
    const response = new Promise<{ status: number; text: string }>((resolve, reject) => {
      request.on("response", (res) => {
        let text = "";
        res.on("data", (chunk: Buffer) => {
          text += chunk.toString();
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
        res.on("error", reject);
      });
      request.on("error", reject);
    });
    await within(new Promise((resolve) => request.once("continue", resolve)), 5_000, "100 Continue");
    request.write(body.slice(0, 10));

    target.signal("SIGTERM");
    const closed = await socket.waitClose(10_000);
    expect(closed.code).toBe(1001);

    // No new connections, HTTP or WebSocket, while the process finishes.
    const refusedHttp = await fetch(target.url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: "{ __typename }" }),
    }).then(
      (res) => `answered ${res.status}`,
      (error: { cause?: { code?: string } }) => error.cause?.code,
    );
    expect(refusedHttp).toBe("ECONNREFUSED");
    const refusedWs = await openRaw(target.url).then(
      (s) => {
        s.close();
        return "opened";
      },
      (error: { code?: string }) => error.code,
    );
    expect(refusedWs).toBe("ECONNREFUSED");
    expect(target.running).toBe(true);

    // The in-flight request completes normally.
    request.end(body.slice(10));
    const answer = await within(response, 10_000, "the in-flight request's answer");
    expect(answer.status).toBe(200);
    const parsed = JSON.parse(answer.text) as { data?: { sendMessage?: Sent }; errors?: unknown };
    expect(parsed.errors).toBeUndefined();
    expect(parsed.data?.sendMessage).toMatchObject({
      content: "sent during shutdown",
      seq: replayed.seq + 1,
    });

    const exit = await within(target.exited, 15_000, "the process to exit after SIGTERM");
    expect(exit).toEqual({ code: 0, signal: null });
    expect(target.output()).toContain("SIGTERM: shutting down");

    // What it committed while shutting down is there.
    const { chat } = await via(shared.url, bob).ok(ChatForFaultsDocument, { with: alice.id, first: 1 });
    expect(chat.nodes[0]?.content).toBe("sent during shutdown");
  });

  it("exits 0 on SIGTERM while Redis is down", async () => {
    const redis = await startRedis();
    const server = await startServerProcess({ ...processEnv(), REDIS_URL: redis.url });
    const [alice, bob] = [await signUp(shared), await signUp(shared)];
    const toProcess = via(server.url, alice);
    await send(toProcess, { to: bob.id, content: "before the outage" });

    await redis.kill();
    // Sends still succeed; once one says its notice was not published, the process knows Redis is gone.
    await waitUntil(
      async () => {
        await send(toProcess, { to: bob.id, content: "during the outage" });
        return server.output().includes("log notice not published");
      },
      { what: "the process to notice the outage", timeoutMs: 10_000, everyMs: 100 },
    );

    server.signal("SIGTERM");
    const exit = await within(server.exited, 15_000, "the process to exit after SIGTERM");
    expect({ exit, output: server.output() }).toMatchObject({ exit: { code: 0, signal: null } });
  });
});
