import { codedError, conflict, unauthenticated } from "../../core/errors.ts";
import { cleanHttpUrl, cleanPassword, cleanText, cleanUsername } from "../../core/input.ts";
import { consume, guardLogin } from "../../core/limits.ts";
import { Prisma, type User as UserRow } from "../../generated/prisma/client.ts";
import { builder } from "../../schema/builder.ts";
import type { Context } from "../../schema/context.ts";
import { requireViewer } from "../../schema/context.ts";
import { dummyHash, hashPassword, verifyPassword } from "./password.ts";
import { signToken } from "./tokens.ts";

export const UserRole = builder.enumType("UserRole", { values: ["USER", "ADMIN"] as const });

export const User = builder.prismaObject("User", {
  description: "A person (or bot) who can hold conversations. Public profile fields only.",
  fields: (t) => ({
    id: t.exposeID("id"),
    username: t.exposeString("username"),
    displayName: t.exposeString("displayName"),
    avatarUrl: t.exposeString("avatarUrl", { nullable: true }),
    role: t.expose("role", { type: UserRole }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
  }),
});

const AuthPayload = builder.objectRef<{ token: string; user: UserRow }>("AuthPayload").implement({
  description: "A session: the bearer token to send as `Authorization: Bearer <token>`, and its user.",
  fields: (t) => ({
    token: t.exposeString("token"),
    user: t.field({ type: User, resolve: (payload) => payload.user }),
  }),
});

const MAX_NAME = 100;

async function issue(ctx: Context, user: { id: string; role: "USER" | "ADMIN" }) {
  return signToken(user, ctx.jwtKey, ctx.config.jwtTtlSeconds);
}

const isUniqueViolation = (e: unknown) =>
  e instanceof Prisma.PrismaClientKnownRequestError && e.code === "P2002";

builder.queryFields((t) => ({
  me: t.prismaField({
    type: "User",
    description: "The signed-in user.",
    authScopes: { viewer: true },
    resolve: async (query, _root, _args, ctx) => {
      const user = await ctx.prisma.user.findUnique({ ...query, where: { id: requireViewer(ctx).id } });
      if (!user) throw unauthenticated("The token's user no longer exists");
      return user;
    },
  }),
}));

builder.mutationFields((t) => ({
  signUp: t.field({
    type: AuthPayload,
    description: "Creates an account with a password and signs it in.",
    args: { username: t.arg.string(), password: t.arg.string(), displayName: t.arg.string() },
    resolve: async (_root, args, ctx) => {
      await consume(ctx.limits.authIp, ctx.clientIp);
      const username = cleanUsername(args.username);
      const password = cleanPassword(args.password);
      const displayName = cleanText(args.displayName, "displayName", MAX_NAME);
      const passwordHash = await hashPassword(password);
      try {
        const user = await ctx.prisma.user.create({ data: { username, displayName, passwordHash } });
        return { token: await issue(ctx, user), user };
      } catch (e) {
        if (isUniqueViolation(e)) throw conflict(`The username '${username}' is taken`);
        throw e;
      }
    },
  }),
  logIn: t.field({
    type: AuthPayload,
    description: "Signs in with username and password.",
    args: { username: t.arg.string(), password: t.arg.string() },
    resolve: async (_root, args, ctx) => {
      // Brute force: attempts per IP, and failed attempts per username (see src/limits.ts).
      await consume(ctx.limits.authIp, ctx.clientIp);
      const user = await ctx.prisma.user.findUnique({ where: { username: args.username.trim() } });
      const ok = await guardLogin(ctx.limits, args.username, async () => {
        // Unknown users cost a hash check too, so timing does not reveal which usernames exist.
        const matches = await verifyPassword(args.password, user?.passwordHash ?? (await dummyHash));
        return Boolean(user?.passwordHash) && matches;
      });
      if (!user?.passwordHash || !ok) throw unauthenticated("Wrong username or password");
      return { token: await issue(ctx, user), user };
    },
  }),
  upsertUser: t.field({
    type: AuthPayload,
    description:
      "System (X-Api-Key): creates or updates the user a host app knows by `externalId`, and returns a token to act for them.",
    authScopes: { system: true },
    args: {
      externalId: t.arg.string(),
      username: t.arg.string(),
      displayName: t.arg.string(),
      avatarUrl: t.arg.string({ required: false }),
    },
    resolve: async (_root, args, ctx) => {
      const externalId = cleanText(args.externalId, "externalId", 200);
      const username = cleanUsername(args.username);
      const displayName = cleanText(args.displayName, "displayName", MAX_NAME);
      const avatarUrl = args.avatarUrl == null ? undefined : cleanHttpUrl(args.avatarUrl, "avatarUrl");
      try {
        const user = await ctx.prisma.user.upsert({
          where: { externalId },
          create: { externalId, username, displayName, avatarUrl },
          update: { username, displayName, avatarUrl },
        });
        return { token: await issue(ctx, user), user };
      } catch (e) {
        if (isUniqueViolation(e)) {
          throw codedError("CONFLICT", `The username '${username}' belongs to another user`, {
            field: "username",
          });
        }
        throw e;
      }
    },
  }),
}));
