import type { PrismaClient } from "../generated/prisma/client.ts";
import type { Config } from "./config.ts";
import type { Jobs } from "./jobs.ts";
import type { Limits } from "./limits.ts";
import type { AppMetrics } from "./metrics.ts";
import type { PubSub } from "./pubsub.ts";

/**
 * What the app wires together once per instance and hands to every domain function: the database,
 * pub/sub, the durable job queue, rate limits, configuration. Nothing per request lives here: who is
 * asking travels separately, as an `Actor` (core/actor.ts).
 */
export type Services = {
  prisma: PrismaClient;
  pubsub: PubSub;
  /** The durable job queue (pg-boss): enqueue inside writeTransaction. */
  jobs: Jobs;
  limits: Limits;
  config: Config;
  /** The HS256 key tokens are signed and verified with (from JWT_SECRET). */
  jwtKey: Uint8Array;
  /** This instance's Prometheus metrics (absent in services built outside an app, e.g. scripts). */
  metrics?: AppMetrics;
};
