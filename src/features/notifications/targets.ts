// Targets: where a user can be reached outside the app (email address, phone, push token), as in
// Appwrite Messaging. Each kind has its own address rules, checked before anything is written.

import { type Actor, hasApiKey } from "../../core/actor.ts";
import { badInput, conflict, forbidden, notFound } from "../../core/errors.ts";
import { isUuid } from "../../core/input.ts";
import type { Services } from "../../core/services.ts";
import type { TargetKind } from "../../generated/prisma/client.ts";
import { Prisma } from "../../generated/prisma/client.ts";
import { requireUserRef } from "../users/users.ts";

// Deliberately plain: one @, no spaces, a dot in the domain. The SMTP server has the last word.
const EMAIL = /^[^\s@]{1,64}@[^\s@]+\.[^\s@.]{2,}$/;
const E164 = /^\+[1-9]\d{6,14}$/;

/** The address in its stored form (emails lower-cased), or BAD_USER_INPUT on `address`. */
export function cleanAddress(kind: TargetKind, address: string): string {
  const v = address.trim();
  switch (kind) {
    case "EMAIL":
      if (v.length > 254 || !EMAIL.test(v)) throw badInput("address", "address must be an email address");
      return v.toLowerCase();
    case "SMS":
      if (!E164.test(v))
        throw badInput("address", "address must be an E.164 phone number, e.g. +14155550123");
      return v;
    case "PUSH":
      if (v.length === 0 || v.length > 4096)
        throw badInput("address", "address must be a push token (1-4096 characters)");
      return v;
  }
}

/**
 * The user an operation acts for: the viewer themselves, or with the API key the user it names.
 * A viewer naming someone else is FORBIDDEN (the API key may name anyone).
 */
export async function actingUser(
  services: Pick<Services, "prisma">,
  actor: Actor,
  userRef: string | null | undefined,
): Promise<string> {
  if (hasApiKey(actor) && userRef != null) return (await requireUserRef(services, userRef, "userId")).id;
  if (actor.kind === "user") {
    if (userRef != null) {
      const named = await requireUserRef(services, userRef, "userId");
      if (named.id !== actor.user.id) throw forbidden("You can only act for yourself here");
    }
    return actor.user.id;
  }
  throw badInput("userId", "userId is required with the API key");
}

export async function addTarget(
  ctx: Services,
  actor: Actor,
  args: {
    kind: TargetKind;
    address: string;
    label?: string | null | undefined;
    userId?: string | null | undefined;
  },
) {
  const address = cleanAddress(args.kind, args.address);
  const label = args.label?.trim() || null;
  if (label && label.length > 100) throw badInput("label", "label must be at most 100 characters");
  const userId = await actingUser(ctx, actor, args.userId);
  try {
    return await ctx.prisma.target.create({ data: { userId, kind: args.kind, address, label } });
  } catch (error) {
    if (error instanceof Prisma.PrismaClientKnownRequestError && error.code === "P2002") {
      throw conflict(`This ${args.kind.toLowerCase()} target exists already`);
    }
    throw error;
  }
}

/** Removes a target of the viewer (or, with the API key, of anyone); its delivery log goes with it. */
export async function removeTarget(ctx: Services, actor: Actor, input: { id: string }) {
  const { id } = input;
  if (!isUuid(id)) throw notFound("Target");
  const where = hasApiKey(actor) ? { id } : { id, userId: actor.kind === "user" ? actor.user.id : "" };
  const target = await ctx.prisma.target.findFirst({ where, select: { id: true } });
  if (!target) throw notFound("Target");
  await ctx.prisma.target.deleteMany({ where: { id } });
}
