// Accounts: sign-up, log-in, host-app users, and the end of sessions. Tokens carry the user's token
// version and an id of their own: `logOut` revokes one token, `logOut(everywhere)`, `changePassword`
// and `revokeUserTokens` move the version on and so revoke them all. Each revocation is an event
// (`user.tokens_revoked`), so every instance forgets the sessions and closes their live sockets.
import { type Actor, hasApiKey, requireUser } from "../../core/actor.ts";
import { badInput, conflict, forbidden, notFound, unauthenticated } from "../../core/errors.ts";
import { cleanHttpUrl, cleanPassword, cleanText, cleanUsername } from "../../core/input.ts";
import { consume, guardLogin } from "../../core/limits.ts";
import type { Services } from "../../core/services.ts";
import { writeTransaction } from "../../events/writer.ts";
import { Prisma, type User } from "../../generated/prisma/client.ts";
import { dummyHash, hashPassword, verifyPassword } from "./password.ts";
import type { Sessions } from "./sessions.ts";
import type { TokenClaims } from "./tokens.ts";
import { signToken } from "./tokens.ts";
import { requireUserRef } from "./users.ts";

const MAX_NAME = 100;

export type AuthPayload = { token: string; user: User };

/** Services and this instance's sessions, which a revocation clears at once (others follow the log). */
type AccountServices = Services & { sessions: Sessions };

/** Who is asking, as far as the account rules care: the client's address, and its token if any. */
export type Caller = { ip: string; claims: TokenClaims | null };

const isUniqueViolation = (e: unknown) =>
  e instanceof Prisma.PrismaClientKnownRequestError && e.code === "P2002";

async function issue(services: Services, user: User): Promise<AuthPayload> {
  const token = await signToken(user, services.jwtKey, services.config.jwtTtlSeconds, user.tokenVersion);
  return { token, user };
}

/** `signUp`: a new account with a password. Usernames are unique whatever their case. */
export async function signUp(
  services: Services,
  caller: Caller,
  input: { username: string; password: string; displayName: string },
): Promise<AuthPayload> {
  await consume(services.limits.authIp, caller.ip);
  const username = cleanUsername(input.username);
  const password = cleanPassword(input.password);
  const displayName = cleanText(input.displayName, "displayName", MAX_NAME);
  const passwordHash = await hashPassword(password);
  try {
    const user = await services.prisma.user.create({
      data: { username, usernameKey: username.toLowerCase(), displayName, passwordHash },
    });
    return issue(services, user);
  } catch (e) {
    if (isUniqueViolation(e)) throw conflict(`The username '${username}' is taken`, "username");
    throw e;
  }
}

/** `logIn`: brute force is bounded per IP and per (IP, username), before the password is checked. */
export async function logIn(
  services: Services,
  caller: Caller,
  input: { username: string; password: string },
): Promise<AuthPayload> {
  await consume(services.limits.authIp, caller.ip);
  const user = await services.prisma.user.findUnique({
    where: { usernameKey: input.username.trim().toLowerCase() },
  });
  const ok = await guardLogin(services.limits, { ip: caller.ip, username: input.username }, async () => {
    // Unknown users cost a hash check too, so timing does not reveal which usernames exist.
    const matches = await verifyPassword(input.password, user?.passwordHash ?? (await dummyHash));
    return Boolean(user?.passwordHash) && matches;
  });
  if (!user?.passwordHash || !ok) throw unauthenticated("Wrong username or password");
  return issue(services, user);
}

/** `upsertUser` (API key): creates or updates the user a host app knows by `externalId`. */
export async function upsertUser(
  services: Services,
  actor: Actor,
  input: { externalId: string; username: string; displayName: string; avatarUrl?: string | null | undefined },
): Promise<AuthPayload> {
  if (!hasApiKey(actor)) throw forbidden("Only the API key can upsert users");
  const externalId = cleanText(input.externalId, "externalId", 200);
  const username = cleanUsername(input.username);
  const displayName = cleanText(input.displayName, "displayName", MAX_NAME);
  const avatarUrl = input.avatarUrl == null ? undefined : cleanHttpUrl(input.avatarUrl, "avatarUrl");
  const usernameKey = username.toLowerCase();
  try {
    const user = await services.prisma.user.upsert({
      where: { externalId },
      create: { externalId, username, usernameKey, displayName, avatarUrl },
      update: { username, usernameKey, displayName, avatarUrl },
    });
    return issue(services, user);
  } catch (e) {
    if (isUniqueViolation(e))
      throw conflict(`The username '${username}' belongs to another user`, "username");
    throw e;
  }
}

/**
 * `logOut`: signs out the token of this request (until its expiry, the server refuses it), or with
 * `everywhere` every token of the user.
 */
export async function logOut(
  services: AccountServices,
  actor: Actor,
  caller: Caller,
  input: { everywhere?: boolean | null | undefined },
): Promise<boolean> {
  const viewer = requireUser(actor);
  const jti = caller.claims?.jti ?? null;
  if (input.everywhere || !jti) {
    // A token of an earlier version has no id of its own: only the version can end it.
    await revokeAll(services, viewer.id, "logOut");
    return true;
  }
  await writeTransaction(services, async (tx, emit) => {
    await tx.revokedToken.createMany({
      data: [{ jti, userId: viewer.id, expiresAt: new Date((caller.claims?.exp ?? 0) * 1000) }],
      skipDuplicates: true,
    });
    // Signed-out tokens are kept until they expire, no longer: drop the ones that have.
    await tx.revokedToken.deleteMany({ where: { userId: viewer.id, expiresAt: { lt: new Date() } } });
    emit({ type: "user.tokens_revoked", userId: viewer.id, payload: { jti, reason: "logOut" } });
  });
  services.sessions.forget(viewer.id);
  return true;
}

/** `changePassword`: the current password first; every token of the user ends, a new one is returned. */
export async function changePassword(
  services: AccountServices,
  actor: Actor,
  caller: Caller,
  input: { current: string; new: string },
): Promise<AuthPayload> {
  const viewer = requireUser(actor);
  const next = cleanPassword(input.new, "new");
  const user = await services.prisma.user.findUnique({ where: { id: viewer.id } });
  if (!user) throw unauthenticated("The token's user no longer exists");
  // Guessing the current password through this mutation is bounded like logIn.
  const ok = await guardLogin(services.limits, { ip: caller.ip, username: user.username }, async () =>
    user.passwordHash ? verifyPassword(input.current, user.passwordHash) : false,
  );
  if (!ok) throw badInput("current", "The current password is wrong");
  const passwordHash = await hashPassword(next);
  const updated = await writeTransaction(services, async (tx, emit) => {
    const row = await tx.user.update({
      where: { id: viewer.id },
      data: { passwordHash, tokenVersion: { increment: 1 } },
    });
    emit({ type: "user.tokens_revoked", userId: viewer.id, payload: { reason: "changePassword" } });
    return row;
  });
  services.sessions.forget(viewer.id);
  return issue(services, updated);
}

/** `revokeUserTokens` (API key): every token of the user ends now. */
export async function revokeUserTokens(
  services: AccountServices,
  actor: Actor,
  input: { userId: string },
): Promise<boolean> {
  if (!hasApiKey(actor)) throw forbidden("Only the API key can revoke a user's tokens");
  const user = await requireUserRef(services, input.userId, "userId");
  await revokeAll(services, user.id, "revokeUserTokens");
  return true;
}

async function revokeAll(services: AccountServices, userId: string, reason: string): Promise<void> {
  await writeTransaction(services, async (tx, emit) => {
    const { count } = await tx.user.updateMany({
      where: { id: userId },
      data: { tokenVersion: { increment: 1 } },
    });
    if (count === 0) throw notFound("User");
    emit({ type: "user.tokens_revoked", userId, payload: { reason } });
  });
  services.sessions.forget(userId);
}
