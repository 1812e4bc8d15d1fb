import { forbidden, unauthenticated } from "./errors.ts";

/** A signed-in user, from a verified bearer token. */
export type Viewer = { id: string; role: "USER" | "ADMIN" };

/**
 * Who a domain function acts for. Domain functions take `(services, actor, input)` and decide
 * authorization from the actor alone, never from a request context, so a GraphQL request, a
 * subscription and a background job go through the same rules.
 * - `user`: a signed-in user (with `apiKey` when the request also carried the server API key);
 * - `apiKey`: the server API key without a user: system operations of the host app;
 * - `system`: the server itself (jobs), acting on durable state it wrote earlier;
 * - `anonymous`: nobody signed in.
 */
export type Actor =
  | { kind: "user"; user: Viewer; apiKey: boolean }
  | { kind: "apiKey" }
  | { kind: "system" }
  | { kind: "anonymous"; reason?: string | undefined };

export const SYSTEM: Actor = { kind: "system" };
export const userActor = (user: Viewer, apiKey = false): Actor => ({ kind: "user", user, apiKey });

/** The user behind the actor, if any. */
export const actorUser = (actor: Actor): Viewer | null => (actor.kind === "user" ? actor.user : null);

/** True for the server API key (alone or beside a user token). */
export const hasApiKey = (actor: Actor): boolean =>
  actor.kind === "apiKey" || (actor.kind === "user" && actor.apiKey);

/** The API key, or a user with the ADMIN role: operators of the product. */
export const isOperator = (actor: Actor): boolean =>
  hasApiKey(actor) || actor.kind === "system" || (actor.kind === "user" && actor.user.role === "ADMIN");

/** The signed-in user, or UNAUTHENTICATED (FORBIDDEN for the API key, which is no user). */
export function requireUser(actor: Actor): Viewer {
  if (actor.kind === "user") return actor.user;
  if (actor.kind === "anonymous") throw unauthenticated(actor.reason);
  throw forbidden("This operation needs a signed-in user");
}
