// Targets: where a user can be reached outside the app (email address, phone, push token), as in
// Appwrite Messaging. Each kind has its own address rules, checked before anything is written.

import { badInput, conflict, forbidden, notFound } from "../../core/errors.ts";
import { isUuid } from "../../core/input.ts";
import type { TargetKind } from "../../generated/prisma/client.ts";
import { Prisma } from "../../generated/prisma/client.ts";
import type { Context } from "../../schema/context.ts";
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
export async function actingUser(ctx: Context, userRef: string | null | undefined): Promise<string> {
  if (ctx.isSystem && userRef != null) return (await requireUserRef(ctx, userRef, "userId")).id;
  if (ctx.viewer) {
    if (userRef != null) {
      const named = await requireUserRef(ctx, userRef, "userId");
      if (named.id !== ctx.viewer.id) throw forbidden("You can only act for yourself here");
    }
    return ctx.viewer.id;
  }
  throw badInput("userId", "userId is required with the API key");
}

export async function addTarget(
  ctx: Context,
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
  const userId = await actingUser(ctx, args.userId);
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
export async function removeTarget(ctx: Context, id: string) {
  if (!isUuid(id)) throw notFound("Target");
  const where = ctx.isSystem ? { id } : { id, userId: ctx.viewer?.id ?? "" };
  const target = await ctx.prisma.target.findFirst({ where, select: { id: true } });
  if (!target) throw notFound("Target");
  await ctx.prisma.target.deleteMany({ where: { id } });
}
