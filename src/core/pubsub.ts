import { EventEmitter } from "node:events";
import { RedisPubSub } from "graphql-redis-subscriptions";
import { Redis } from "ioredis";

/** Ephemeral, unlogged signals of one conversation (typing, live collaboration). */
export type EphemeralNotice = {
  kind: "typing" | "signal";
  conversationId: string;
  userId: string;
  typing?: boolean;
  type?: string;
  payload?: unknown;
  at: string;
};

/**
 * The one declaration of every topic and its payload.
 * - `log`: "the event log has grown up to here". Durable events are read from the log, never from
 *   pub/sub (which is at-most-once): a notice only wakes each instance's log reader early.
 * - `conversation:<id>`: ephemeral signals, which are not logged and may be lost.
 */
export type Topics = {
  log: PositionJson;
  [key: `conversation:${string}`]: EphemeralNotice;
};

/** A log position in JSON-safe form (bigint does not survive JSON); see events/position.ts. */
export type PositionJson = { txid: string; id: string };

export type Unsubscribe = () => void;

/** Typed pub/sub: in-process, or across instances through Redis. One per process (per app). */
export interface PubSub {
  readonly kind: "local" | "redis";
  publish<K extends keyof Topics & string>(topic: K, payload: Topics[K]): Promise<void>;
  subscribe<K extends keyof Topics & string>(
    topic: K,
    handler: (payload: Topics[K]) => void,
  ): Promise<Unsubscribe>;
  /** Metrics hook, set by the app: told how many committed events each announcement covers. */
  onAnnounce?: (events: number) => void;
  /** Called after the subscriber connection comes back, when notices may have been missed. */
  onReconnect(handler: () => void): void;
  close(): Promise<void>;
}

export function createLocalPubSub(): PubSub {
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  return {
    kind: "local",
    publish: async (topic, payload) => {
      emitter.emit(topic, payload);
    },
    subscribe: async (topic, handler) => {
      const listener = (payload: Topics[typeof topic]) => handler(payload);
      emitter.on(topic, listener);
      return () => emitter.off(topic, listener);
    },
    onReconnect: () => {},
    close: async () => {
      emitter.removeAllListeners();
    },
  };
}

/**
 * graphql-redis-subscriptions over two ioredis connections. ioredis reconnects by itself and
 * re-subscribes; the publisher does not queue while offline, so a Redis outage fails publishes fast
 * (callers log and carry on: the events are in the log) instead of piling them up in memory.
 */
export function createRedisPubSub(url: string): PubSub {
  const retryStrategy = (times: number) => Math.min(50 * 2 ** times, 2_000);
  const publisher = new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, retryStrategy });
  // No ready check on the subscriber: its INFO probe can race a SUBSCRIBE sent while connecting,
  // fail in subscriber mode and reconnect without the subscription.
  const subscriber = new Redis(url, { maxRetriesPerRequest: null, enableReadyCheck: false, retryStrategy });
  // graphql-redis-subscriptions fires UNSUBSCRIBE without handling its promise; while Redis is down
  // it is queued, and rejects ("Connection is closed") when the connection goes. Handle it here.
  for (const method of ["unsubscribe", "punsubscribe"] as const) {
    const original = subscriber[method].bind(subscriber) as (...args: unknown[]) => Promise<unknown>;
    Object.assign(subscriber, {
      [method]: (...args: unknown[]) => {
        const result = original(...args);
        result.catch(() => {});
        return result;
      },
    });
  }
  const redis = new RedisPubSub({ publisher, subscriber });
  const reconnectHandlers: (() => void)[] = [];
  let wasReady = false;
  subscriber.on("ready", () => {
    if (wasReady) for (const h of reconnectHandlers) h();
    wasReady = true;
  });
  // Without listeners ioredis would print every failed reconnect attempt as an unhandled error.
  for (const connection of [publisher, subscriber]) connection.on("error", () => {});
  return {
    kind: "redis",
    publish: (topic, payload) => redis.publish(topic, payload),
    subscribe: async (topic, handler) => {
      const id = await redis.subscribe(topic, handler);
      return () => redis.unsubscribe(id);
    },
    onReconnect: (handler) => {
      reconnectHandlers.push(handler);
    },
    // disconnect, not quit: QUIT waits for Redis to come back when commands are queued offline, and
    // shutdown must not depend on Redis being up.
    close: async () => {
      publisher.disconnect();
      subscriber.disconnect();
    },
  };
}
