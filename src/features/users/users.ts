import { badInput, notFound } from "../../core/errors.ts";
import { isUuid } from "../../core/input.ts";
import type { Context } from "../../schema/context.ts";

/** Finds a user named by id or username (DESIGN.md: wherever a user is named, either works). */
export function findUserRef(ctx: Context, ref: string) {
  const value = ref.trim();
  return ctx.memo(`user:${value}`, () =>
    ctx.prisma.user.findUnique({
      where: isUuid(value) ? { id: value } : { username: value },
      select: { id: true, username: true },
    }),
  );
}

export async function requireUserRef(ctx: Context, ref: string, field: string) {
  const user = await findUserRef(ctx, ref);
  if (!user) throw notFound(`User '${ref}' (argument ${field})`);
  return user;
}

/** Resolves a list of user refs at once; unknown ones are reported together, by the field. */
export async function requireUserRefs(ctx: Context, refs: readonly string[], field: string) {
  const values = [...new Set(refs.map((r) => r.trim()))];
  const ids = values.filter(isUuid);
  const names = values.filter((v) => !isUuid(v));
  const users = await ctx.prisma.user.findMany({
    where: { OR: [{ id: { in: ids } }, { username: { in: names } }] },
    select: { id: true, username: true },
  });
  const missing = values.filter((v) => !users.some((u) => u.id === v || u.username === v));
  if (missing.length) throw badInput(field, `Unknown user(s) in ${field}: ${missing.join(", ")}`);
  return users;
}

export function requireViewer(ctx: Context) {
  if (!ctx.viewer) throw new Error("requireViewer called on a field without the viewer scope");
  return ctx.viewer;
}
