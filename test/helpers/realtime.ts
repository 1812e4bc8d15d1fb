// Helpers for the realtime tests (test/realtime*.test.ts): tracking and closing every client a test
// opens, knowing when a subscription is live on the server, and reading how a subscription ended.
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Client as WsClient } from "graphql-ws";
import { Redis } from "ioredis";
import lockfile from "proper-lockfile";
import { afterEach, beforeEach, inject } from "vitest";
import { comparePositions, type Position } from "../../src/events/position.ts";
import type { TypedDocumentString } from "../gql/graphql.ts";
import type { TestServer } from "./server.ts";
import { type Subscription, subscribeSse, subscribeWs, wsClient } from "./subscriptions.ts";
import { waitUntil } from "./wait.ts";

export const REDIS_URL = "redis://127.0.0.1:6379";

/**
 * Every graphql-ws client and subscription a test opens on `servers`, closed after each test of the
 * enclosing file or describe block, which fails if the servers do not then release the listeners
 * of the closed subscriptions.
 */
export function useRealtime(servers: TestServer[]): Realtime {
  const rt = new Realtime(servers);
  beforeEach(() => rt.begin());
  afterEach(() => rt.closeAll());
  return rt;
}

/**
 * Every graphql-ws client and subscription a test opens. `begin` (before each test) notes how many
 * live listeners each server holds; `closeAll` (after each test) ends everything the test opened
 * and fails if the servers do not release the listeners of the closed subscriptions.
 */
export class Realtime {
  private readonly clients = new Map<string, WsClient>();
  private readonly subscriptions: Subscription<unknown>[] = [];
  private baseline = new Map<TestServer, number>();

  constructor(private readonly servers: TestServer[]) {}

  begin(): void {
    this.baseline = new Map(this.servers.map((s) => [s, s.app.services.hub.size]));
  }

  /** One graphql-ws client per (server, token); `fresh` opens another socket. */
  client(server: TestServer, token: string | undefined, fresh = false): WsClient {
    const key = `${server.url} ${token ?? ""}`;
    let client = fresh ? undefined : this.clients.get(key);
    if (!client) {
      client = wsClient(server.url, token);
      this.clients.set(fresh ? `${key} ${this.clients.size}` : key, client);
    }
    return client;
  }

  ws<T, V>(server: TestServer, token: string | undefined, doc: TypedDocumentString<T, V>, vars?: V) {
    return this.track(subscribeWs(this.client(server, token), doc, vars));
  }

  /** Over a socket of its own, so `disconnect` drops it alone. */
  wsAlone<T, V>(server: TestServer, token: string | undefined, doc: TypedDocumentString<T, V>, vars?: V) {
    const client = this.client(server, token, true);
    const sub = this.track(subscribeWs(client, doc, vars));
    return { sub, disconnect: async () => void (await client.dispose()) };
  }

  sse<T, V>(server: TestServer, token: string | undefined, doc: TypedDocumentString<T, V>, vars?: V) {
    return this.track(subscribeSse(server.url, token, doc, vars));
  }

  private track<T>(sub: Subscription<T>): Subscription<T> {
    this.subscriptions.push(sub as Subscription<unknown>);
    return sub;
  }

  async closeAll(): Promise<void> {
    for (const sub of this.subscriptions.splice(0)) sub.unsubscribe();
    const clients = [...this.clients.values()];
    this.clients.clear();
    await Promise.allSettled(clients.map((c) => c.dispose()));
    for (const server of this.servers) {
      const before = this.baseline.get(server) ?? 0;
      await waitUntil(() => server.app.services.hub.size <= before, {
        what: `${server.url} to release the listeners of the closed subscriptions (${server.app.services.hub.size} live, ${before} before the test)`,
        timeoutMs: 5_000,
      });
    }
  }
}

/**
 * Runs `open` (which subscribes) and waits until `server` holds `count` more live log listeners:
 * from then on nothing committed can be missed by them.
 */
export async function live<const T>(server: TestServer, count: number, open: () => T): Promise<T> {
  const hub = server.app.services.hub;
  const before = hub.size;
  const value = open();
  await waitUntil(() => hub.size >= before + count, {
    what: `${count} new live subscription(s) on ${server.url}`,
  });
  return value;
}

/** How many Redis connections (one per app instance) listen on a pub/sub channel. */
export async function redisSubscribers(channel: string): Promise<number> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    const reply = (await redis.pubsub("NUMSUB", channel)) as [string, number | string];
    return Number(reply[1]);
  } finally {
    redis.disconnect();
  }
}

/** Waits until `instances` app instances listen on a conversation's ephemeral channel (Redis). */
export const ephemeralChannelReady = (conversationId: string, instances: number) =>
  waitUntil(async () => (await redisSubscribers(`conversation:${conversationId}`)) >= instances, {
    what: `${instances} instance(s) on conversation:${conversationId}`,
  });

/**
 * Waits until `server`'s log reader has read past the newest event about these conversations or
 * users, so a subscription opened afterwards starts after them (nothing earlier shows up live).
 */
export async function caughtUp(
  server: TestServer,
  about: { conversationIds?: string[]; userIds?: string[] },
): Promise<void> {
  const { prisma, hub } = server.app.services;
  const [newest] = await prisma.$queryRaw<Position[]>`
    SELECT txid, id FROM "Event"
     WHERE "conversationId" = ANY(${about.conversationIds ?? []}::uuid[])
        OR "userId" = ANY(${about.userIds ?? []}::uuid[])
     ORDER BY txid DESC, id DESC LIMIT 1`;
  if (!newest) return;
  await waitUntil(
    () => {
      const { position, close } = hub.listen(() => {});
      close();
      if (comparePositions(position, { txid: BigInt(newest.txid), id: BigInt(newest.id) }) >= 0) return true;
      hub.wake();
      return false;
    },
    { what: `${server.url} to read the log up to ${newest.txid}.${newest.id}` },
  );
}

export type EndError = { code: unknown; extensions: Record<string, unknown>; message: string };

/** The GraphQL errors a subscription got: in results, or as the graphql-ws `error` message. */
export function errorsOf(sub: Subscription<unknown>): EndError[] {
  const fromResults = sub.results.flatMap((r) => r.errors ?? []);
  const fromError = Array.isArray(sub.error) ? (sub.error as EndError[]) : [];
  return [...fromResults, ...fromError].map((e) => ({
    code: e.extensions?.code,
    extensions: e.extensions ?? {},
    message: e.message,
  }));
}

/** Waits for the subscription to end and returns its (last) GraphQL error. */
export async function endError(
  sub: Subscription<unknown>,
  timeoutMs = 10_000,
): Promise<EndError | undefined> {
  await sub.waitForEnd(timeoutMs);
  return errorsOf(sub).at(-1);
}

/** The WebSocket close code a graphql-ws subscription ended with, if it ended by a close. */
export const closeCode = (sub: Subscription<unknown>) =>
  sub.error && typeof sub.error === "object" && "code" in sub.error
    ? (sub.error as { code: unknown }).code
    : undefined;

/**
 * Runs `fn` while holding this test run's event-log lock (a lock file shared by the test processes):
 * test/realtime-prune.test.ts prunes the whole log, which would expire a cursor another realtime
 * test holds; tests that take a cursor and resume from it hold the lock for that time.
 */
export async function withLogLock<T>(fn: () => Promise<T>): Promise<T> {
  const database = new URL(inject("databaseUrl")).pathname.slice(1) || "db";
  const release = await lockfile.lock(join(tmpdir(), `messaging-test-event-log-${database}`), {
    realpath: false,
    retries: { retries: 600, minTimeout: 50, maxTimeout: 100 },
  });
  try {
    return await fn();
  } finally {
    await release();
  }
}
