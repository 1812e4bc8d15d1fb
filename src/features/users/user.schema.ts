import { unauthenticated } from "../../core/errors.ts";
import type { User as UserRow } from "../../generated/prisma/client.ts";
import { builder } from "../../schema/builder.ts";
import { type Context, requireViewer } from "../../schema/context.ts";
import { sharedFields } from "../../schema/shared-execution.ts";
import {
  type Caller,
  changePassword,
  logIn,
  logOut,
  revokeUserTokens,
  signUp,
  upsertUser,
} from "./accounts.ts";

export const UserRole = builder.enumType("UserRole", { values: ["USER", "ADMIN"] as const });

export const User = builder.prismaObject("User", {
  description: "A person (or bot) who can hold conversations. Public profile fields only.",
  extensions: sharedFields("id", "username", "displayName", "avatarUrl", "role", "createdAt"),
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

const caller = (ctx: Context): Caller => ({ ip: ctx.clientIp, claims: ctx.session?.claims ?? null });

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
    description:
      "Creates an account with a password and signs it in. Usernames are unique whatever their case.",
    args: { username: t.arg.string(), password: t.arg.string(), displayName: t.arg.string() },
    resolve: (_root, args, ctx) => signUp(ctx, caller(ctx), args),
  }),
  logIn: t.field({
    type: AuthPayload,
    description: "Signs in with username (any case) and password.",
    args: { username: t.arg.string(), password: t.arg.string() },
    resolve: (_root, args, ctx) => logIn(ctx, caller(ctx), args),
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
    resolve: (_root, args, ctx) => upsertUser(ctx, ctx.actor, args),
  }),
  logOut: t.boolean({
    description:
      "Signs out the token of this request (the server refuses it from now on), or with `everywhere: true` every token of the viewer. Open subscriptions of those tokens end (WebSockets close with 4403).",
    authScopes: { viewer: true },
    args: { everywhere: t.arg.boolean({ required: false }) },
    resolve: (_root, args, ctx) => logOut(ctx, ctx.actor, caller(ctx), args),
  }),
  changePassword: t.field({
    type: AuthPayload,
    description:
      "Changes the viewer's password (the current one first). Every earlier token of the viewer ends; the answer carries a new one.",
    authScopes: { viewer: true },
    args: { current: t.arg.string(), new: t.arg.string() },
    resolve: (_root, args, ctx) => changePassword(ctx, ctx.actor, caller(ctx), args),
  }),
  revokeUserTokens: t.boolean({
    description: "System (X-Api-Key): ends every token of a user (id or username) now.",
    authScopes: { system: true },
    args: { userId: t.arg.string() },
    resolve: (_root, args, ctx) => revokeUserTokens(ctx, ctx.actor, args),
  }),
}));
