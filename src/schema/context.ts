import type { IncomingMessage } from "node:http";
import type { YogaInitialContext } from "graphql-yoga";
import { clientIp } from "../app/client-ip.ts";
import type { Config } from "../core/config.ts";
import type { Jobs } from "../core/jobs.ts";
import type { Limits } from "../core/limits.ts";
import type { AppMetrics } from "../core/metrics.ts";
import type { EventHub } from "../events/hub.ts";
import type { PubSub } from "../events/pubsub.ts";
import { safeEqual, type Viewer, verifyToken } from "../features/users/tokens.ts";
import type { PrismaClient } from "../generated/prisma/client.ts";

/** Per-request context, built the same way for HTTP and WebSocket operations. */
export type Context = {
  prisma: PrismaClient;
  pubsub: PubSub;
  /** This instance's event log reader, which feeds live subscriptions. */
  hub: EventHub;
  limits: Limits;
  /** The durable job queue (pg-boss): enqueue inside writeTransaction. */
  jobs: Jobs;
  config: Config;
  jwtKey: Uint8Array;
  /** The signed-in user, from a valid bearer token; null otherwise. */
  viewer: Viewer | null;
  /** True when the request carries the server API key (X-Api-Key): system operations. */
  isSystem: boolean;
  /** Why a presented token was refused, to say so in UNAUTHENTICATED errors. */
  authError: string | null;
  /** The caller's IP (X-Forwarded-For only with TRUST_PROXY), for per-IP rate limits. */
  clientIp: string;
  /** This instance's Prometheus metrics (absent in contexts built outside an app, e.g. scripts). */
  metrics?: AppMetrics;
  /** Request-scoped memo, so two fields of one request share a lookup. */
  memo: <T>(key: string, load: () => Promise<T>) => Promise<T>;
};

export type AppServices = Pick<
  Context,
  "prisma" | "pubsub" | "hub" | "limits" | "jobs" | "config" | "jwtKey"
> &
  Pick<Partial<Context>, "metrics">;

/** Header-like credentials: HTTP headers, or graphql-ws connectionParams (issue: realtime). */
export type Credentials = { authorization?: string | null; apiKey?: string | null; clientIp?: string };

export function credentialsFromRequest(request: Request): Credentials {
  return { authorization: request.headers.get("authorization"), apiKey: request.headers.get("x-api-key") };
}

/** One factory for every transport: verifies the bearer token and the API key once per request. */
export async function buildContext(services: AppServices, creds: Credentials): Promise<Context> {
  let viewer: Viewer | null = null;
  let authError: string | null = null;
  const header = creds.authorization?.trim();
  if (header) {
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    viewer = match?.[1] ? await verifyToken(match[1], services.jwtKey) : null;
    if (!viewer) authError = "Invalid or expired token: sign in again";
  }
  const key = services.config.apiKey;
  const isSystem = Boolean(key && creds.apiKey && safeEqual(creds.apiKey, key));
  const cache = new Map<string, Promise<unknown>>();
  return {
    ...services,
    viewer,
    isSystem,
    authError,
    clientIp: creds.clientIp ?? "unknown",
    memo: <T>(k: string, load: () => Promise<T>) => {
      let hit = cache.get(k) as Promise<T> | undefined;
      if (!hit) {
        hit = load();
        cache.set(k, hit);
      }
      return hit;
    },
  };
}

/** graphql-ws puts the socket's connectionParams in the initial context; HTTP has headers. */
type InitialContext = YogaInitialContext & {
  connectionParams?: Record<string, unknown>;
  /** The Node request: yoga's server context over HTTP, the upgrade request over graphql-ws. */
  req?: IncomingMessage;
};

export function credentialsFromConnectionParams(params: Record<string, unknown> | undefined): Credentials {
  const text = (v: unknown) => (typeof v === "string" ? v : null);
  return {
    authorization: text(params?.authorization) ?? text(params?.Authorization),
    apiKey: text(params?.apiKey) ?? text(params?.["x-api-key"]) ?? text(params?.["X-Api-Key"]),
  };
}

export function createYogaContext(services: AppServices) {
  return (initial: InitialContext) =>
    buildContext(services, {
      ...(initial.connectionParams
        ? credentialsFromConnectionParams(initial.connectionParams)
        : credentialsFromRequest(initial.request)),
      clientIp: initial.req ? clientIp(initial.req, services.config.hardening.trustProxy) : undefined,
    });
}
