// Wires one instance's services: database (migrated), pub/sub (Redis when configured), a Redis
// connection for limits and readiness, the event log reader, the job queue, limits and metrics.
import { Redis } from "ioredis";
import type { Config } from "../core/config.ts";
import { type Database, openDatabase } from "../core/db.ts";
import { Jobs } from "../core/jobs.ts";
import { createLimits } from "../core/limits.ts";
import { type AppMetrics, createMetrics } from "../core/metrics.ts";
import { createLocalPubSub, createRedisPubSub } from "../core/pubsub.ts";
import { EventHub } from "../events/hub.ts";
import { horizonLag } from "../events/log.ts";
import { Sessions } from "../features/users/sessions.ts";
import type { AppServices } from "../schema/context.ts";

export type Wiring = {
  services: AppServices;
  db: Database;
  metrics: AppMetrics;
  /** The connection for limits and /readyz (absent without REDIS_URL). */
  redis: Redis | undefined;
  /** Closes what `wireServices` opened, in reverse order (after workers have stopped). */
  close(): Promise<void>;
};

export async function wireServices(config: Config): Promise<Wiring> {
  const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  const pubsub = config.redisUrl ? createRedisPubSub(config.redisUrl) : createLocalPubSub();
  const metrics = createMetrics();
  // Rate limits and /readyz use a connection of their own: no offline queue, so while Redis is
  // down limits fall back to memory at once and the readiness probe fails fast.
  const redis = config.redisUrl
    ? new Redis(config.redisUrl, {
        enableOfflineQueue: false,
        maxRetriesPerRequest: 1,
        retryStrategy: (times) => Math.min(50 * 2 ** times, 2_000),
      })
    : undefined;
  redis?.on("error", () => {});
  const hub = new EventHub(db.prisma, pubsub, {
    pollMs: config.eventPollMs,
    batchSize: 1000,
    onDispatch: (events, listeners) => metrics.eventsDelivered.inc(events * listeners),
  });
  pubsub.onReconnect(() => metrics.pubsubReconnects.inc());
  pubsub.onAnnounce = (events) => metrics.eventsPublished.inc(events);
  await hub.start();
  const jobs = await Jobs.open(db, config.jobs);
  metrics.setQueueDepthSource(() => jobs.depth());
  metrics.setLogHorizonSource(() => horizonLag(db.prisma));
  const jwtKey = new TextEncoder().encode(config.jwtSecret);
  const sessions = new Sessions({ prisma: db.prisma, jwtKey });
  // Every instance reads every revocation from the log: it forgets those sessions and ends their
  // live sockets and subscriptions, wherever the revocation was made.
  const revocations = hub.listen((events) => {
    for (const e of events) if (e.type === "user.tokens_revoked" && e.userId) void sessions.revoked(e.userId);
  });
  const services: AppServices = {
    prisma: db.prisma,
    pubsub,
    hub,
    sessions,
    limits: createLimits(config.hardening, redis),
    metrics,
    jobs,
    config,
    jwtKey,
  };
  return {
    services,
    db,
    metrics,
    redis,
    close: async () => {
      revocations.close();
      await jobs.stop();
      hub.stop();
      await pubsub.close();
      redis?.disconnect();
      await db.close();
    },
  };
}
