import { createHash, randomUUID, timingSafeEqual } from "node:crypto";
import { jwtVerify, SignJWT } from "jose";

import type { Viewer } from "../../core/actor.ts";

export type { Viewer };

const ISSUER = "messaging-api";

/** What a verified token says. The role in it is informative only: roles are read from the database. */
export type TokenClaims = {
  userId: string;
  /** The user's token version when it was signed: a newer version in the database revokes it. */
  version: number;
  /** This token's own id, to sign it out alone (logOut); absent in tokens of earlier versions. */
  jti: string | null;
  /** Expiry, seconds since the epoch. */
  exp: number;
};

/**
 * Signs an HS256 JWT whose subject is the user id, with the user's current token version and an id
 * of its own, so that it can be revoked with all the user's tokens or alone.
 */
export async function signToken(
  viewer: Viewer,
  secret: Uint8Array,
  ttlSeconds: number,
  tokenVersion = 0,
): Promise<string> {
  return new SignJWT({ role: viewer.role, ver: tokenVersion })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(viewer.id)
    .setJti(randomUUID())
    .setIssuer(ISSUER)
    .setIssuedAt()
    .setExpirationTime(`${ttlSeconds}s`)
    .sign(secret);
}

// Clients send the same token on every request; verifying it once per process saves a signature
// check per request on the hot path. Entries expire with the token itself; the secret never changes
// while the process runs.
const verified = new Map<string, { claims: TokenClaims; expiresAt: number; key: Uint8Array }>();
const CACHE_LIMIT = 10_000;

/**
 * Verifies signature (HS256 only, so `alg: none` and key confusion fail), expiry and not-before.
 * Whether the token was revoked since, and the user's role, are the sessions' business (sessions.ts).
 */
export async function verifyToken(token: string, secret: Uint8Array): Promise<TokenClaims | null> {
  const hit = verified.get(token);
  if (hit && hit.key === secret && hit.expiresAt > Date.now()) return hit.claims;
  try {
    // Pinned algorithm and issuer; a token must expire (ours always do) and name its user.
    const { payload } = await jwtVerify(token, secret, {
      algorithms: ["HS256"],
      issuer: ISSUER,
      requiredClaims: ["exp", "sub"],
    });
    if (typeof payload.sub !== "string" || typeof payload.exp !== "number") return null;
    const claims: TokenClaims = {
      userId: payload.sub,
      version: typeof payload.ver === "number" ? payload.ver : 0,
      jti: typeof payload.jti === "string" ? payload.jti : null,
      exp: payload.exp,
    };
    // Only tokens that are valid now are cached (nbf is in the past by now).
    if (verified.size >= CACHE_LIMIT) verified.clear();
    verified.set(token, { claims, expiresAt: payload.exp * 1000, key: secret });
    return claims;
  } catch {
    return null;
  }
}

/** Compares two secrets in constant time (hashing first makes the lengths equal). */
export function safeEqual(a: string, b: string): boolean {
  const ha = createHash("sha256").update(a).digest();
  const hb = createHash("sha256").update(b).digest();
  return timingSafeEqual(ha, hb);
}
