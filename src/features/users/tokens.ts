import { createHash, timingSafeEqual } from "node:crypto";
import { jwtVerify, SignJWT } from "jose";

import type { Viewer } from "../../core/actor.ts";

export type { Viewer };

const ISSUER = "messaging-api";

/** Signs an HS256 JWT whose subject is the user id; the role rides along for scope checks. */
export async function signToken(viewer: Viewer, secret: Uint8Array, ttlSeconds: number): Promise<string> {
  return new SignJWT({ role: viewer.role })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(viewer.id)
    .setIssuer(ISSUER)
    .setIssuedAt()
    .setExpirationTime(`${ttlSeconds}s`)
    .sign(secret);
}

// Clients send the same token on every request; verifying it once per process saves a signature
// check per request on the hot path. Entries expire with the token itself; the secret never changes
// while the process runs.
const verified = new Map<string, { viewer: Viewer; expiresAt: number; key: Uint8Array }>();
const CACHE_LIMIT = 10_000;

/** Verifies signature (HS256 only, so `alg: none` and key confusion fail), expiry and not-before. */
export async function verifyToken(token: string, secret: Uint8Array): Promise<Viewer | null> {
  const hit = verified.get(token);
  if (hit && hit.key === secret && hit.expiresAt > Date.now()) return hit.viewer;
  try {
    // Pinned algorithm and issuer; a token must expire (ours always do) and name its user.
    const { payload } = await jwtVerify(token, secret, {
      algorithms: ["HS256"],
      issuer: ISSUER,
      requiredClaims: ["exp", "sub"],
    });
    if (typeof payload.sub !== "string") return null;
    const viewer: Viewer = { id: payload.sub, role: payload.role === "ADMIN" ? "ADMIN" : "USER" };
    // Only tokens that are valid now and carry an expiry are cached (nbf is in the past by now).
    if (typeof payload.exp === "number") {
      if (verified.size >= CACHE_LIMIT) verified.clear();
      verified.set(token, { viewer, expiresAt: payload.exp * 1000, key: secret });
    }
    return viewer;
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
