import type { IncomingMessage } from "node:http";
import type { YogaInitialContext } from "graphql-yoga";
import { type Actor, requireUser, userActor, type Viewer } from "../core/actor.ts";
import { clientIp } from "../core/client-ip.ts";
import type { LiveServices } from "../events/services.ts";
import { VisibilityLoader } from "../features/messaging/visibility.ts";
import type { Session, Sessions } from "../features/users/sessions.ts";
import { safeEqual } from "../features/users/tokens.ts";

/**
 * Per-request context, built the same way for HTTP and WebSocket operations: the app's services, the
 * actor (who asks), and request-scoped helpers. Domain functions never see it: resolvers pass them
 * `(ctx, ctx.actor, input)`, typed as `(Services, Actor, ...)`.
 */
export type Context = AppServices & {
  actor: Actor;
  /** The bearer token's session (null without one, or when it was refused). */
  session: Session | null;
  /** The signed-in user, from a valid bearer token; null otherwise (for scope checks). */
  viewer: Viewer | null;
  /** True when the request carries the server API key (X-Api-Key): system operations. */
  isSystem: boolean;
  /** Why a presented token was refused, to say so in UNAUTHENTICATED errors. */
  authError: string | null;
  /** The caller's IP (X-Forwarded-For only with TRUST_PROXY), for per-IP rate limits. */
  clientIp: string;
  /** Batched conversation visibility for the type-level guard (features/messaging/visibility.ts). */
  visibility: VisibilityLoader;
  /** Request-scoped memo, so two fields of one request share a lookup. */
  memo: <T>(key: string, load: () => Promise<T>) => Promise<T>;
};

/** Services plus this instance's event log reader and its sessions (who a token speaks for). */
export type AppServices = LiveServices & { sessions: Sessions };

/** The token of an `Authorization: Bearer <token>` header. */
export const bearerToken = (header: string): string | null =>
  /^Bearer\s+(\S+)$/i.exec(header.trim())?.[1] ?? null;

/** The signed-in user of a field guarded by the `viewer` scope. */
export const requireViewer = (ctx: Pick<Context, "actor">): Viewer => requireUser(ctx.actor);

/** Header-like credentials: HTTP headers, or graphql-ws connectionParams (issue: realtime). */
export type Credentials = { authorization?: string | null; apiKey?: string | null; clientIp?: string };

export function credentialsFromRequest(request: Request): Credentials {
  return { authorization: request.headers.get("authorization"), apiKey: request.headers.get("x-api-key") };
}

/** One factory for every transport: verifies the bearer token and the API key once per request. */
export async function buildContext(services: AppServices, creds: Credentials): Promise<Context> {
  let session: Session | null = null;
  let authError: string | null = null;
  const header = creds.authorization?.trim();
  if (header) {
    const token = bearerToken(header);
    session = token ? await services.sessions.open(token) : null;
    if (!session) authError = "Invalid, expired or revoked token: sign in again";
  }
  const viewer = session?.viewer ?? null;
  const key = services.config.apiKey;
  const isSystem = Boolean(key && creds.apiKey && safeEqual(creds.apiKey, key));
  const cache = new Map<string, Promise<unknown>>();
  const actor: Actor = viewer
    ? userActor(viewer, isSystem)
    : isSystem
      ? { kind: "apiKey" }
      : { kind: "anonymous", reason: authError ?? undefined };
  return {
    ...services,
    actor,
    session,
    visibility: new VisibilityLoader(services, actor),
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
