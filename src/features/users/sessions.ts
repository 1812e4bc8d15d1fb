// Sessions: whether a verified token still stands, and who it speaks for. A token is revoked when the
// user's token version moved past it (logOut everywhere, changePassword, revokeUserTokens) or when it
// was signed out alone (RevokedToken). The role comes from the database, never from the token, so a
// demoted admin is a user again at once. Answers are cached for a couple of seconds per instance; a
// revocation clears them on every instance as its event goes by (app/sessions wiring), so the
// cache only bounds how stale a change made outside the API (SQL) can be.
import { LRUCache } from "lru-cache";
import type { Viewer } from "../../core/actor.ts";
import { isUuid } from "../../core/input.ts";
import type { Services } from "../../core/services.ts";
import { type TokenClaims, verifyToken } from "./tokens.ts";

/** How long a session check is reused on this instance. */
const SESSION_TTL_MS = 2_000;

export type Session = { viewer: Viewer; claims: TokenClaims };

type Row = { role: "USER" | "ADMIN"; tokenVersion: number; revoked: boolean };

export class Sessions {
  private readonly cache = new LRUCache<string, Promise<Row | null>>({ max: 50_000, ttl: SESSION_TTL_MS });
  /** Live sockets and subscriptions per user, each with what ends it once its token is revoked. */
  private readonly live = new Map<string, Set<{ claims: TokenClaims; end: () => void }>>();

  constructor(private readonly services: Pick<Services, "prisma" | "jwtKey">) {}

  /** The session a bearer token opens, or null (bad signature, expired, revoked, user gone). */
  async open(token: string): Promise<Session | null> {
    const claims = await verifyToken(token, this.services.jwtKey);
    if (!claims) return null;
    return this.check(claims);
  }

  /** Re-checks a session opened earlier (live subscriptions ask again as they go). */
  async check(claims: TokenClaims): Promise<Session | null> {
    if (claims.exp * 1000 <= Date.now() || !isUuid(claims.userId)) return null;
    const row = await this.load(claims.userId, claims.jti);
    if (!row || row.revoked || row.tokenVersion !== claims.version) return null;
    return { viewer: { id: claims.userId, role: row.role }, claims };
  }

  /** Drops what this instance remembers of a user's sessions (after a revocation or role change). */
  forget(userId: string): void {
    for (const key of this.cache.keys()) if (key.startsWith(`${userId}:`)) this.cache.delete(key);
  }

  /**
   * Runs `end` when the token behind `claims` is revoked (a socket to close, a stream to stop).
   * Returns the function that stops watching (call it when the socket or stream ends by itself).
   */
  watch(claims: TokenClaims, end: () => void): () => void {
    let entries = this.live.get(claims.userId);
    if (!entries) {
      entries = new Set();
      this.live.set(claims.userId, entries);
    }
    const entry = { claims, end };
    entries.add(entry);
    return () => {
      entries.delete(entry);
      if (entries.size === 0 && this.live.get(claims.userId) === entries) this.live.delete(claims.userId);
    };
  }

  /** A revocation of the user's tokens went by in the log: ends what no longer stands. */
  async revoked(userId: string): Promise<void> {
    this.forget(userId);
    const entries = [...(this.live.get(userId) ?? [])];
    for (const entry of entries) {
      const still = await this.check(entry.claims).catch(() => "unknown" as const);
      if (still === null) entry.end();
    }
  }

  private load(userId: string, jti: string | null): Promise<Row | null> {
    const key = `${userId}:${jti ?? ""}`;
    let hit = this.cache.get(key);
    if (!hit) {
      hit = this.services.prisma.$queryRaw<Row[]>`
        SELECT role::text AS role, "tokenVersion",
               EXISTS (SELECT 1 FROM "RevokedToken" WHERE jti = ${jti ?? ""}) AS revoked
        FROM "User" WHERE id = ${userId}::uuid`
        .then((rows) => rows[0] ?? null)
        .catch((error: unknown) => {
          this.cache.delete(key); // a failed read is not an answer to keep
          throw error;
        });
      this.cache.set(key, hit);
    }
    return hit;
  }
}
