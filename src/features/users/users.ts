import { badInput, notFound } from "../../core/errors.ts";
import { isUuid } from "../../core/input.ts";
import type { Prisma } from "../../generated/prisma/client.ts";

/** The database, or a transaction: user lookups can run inside a caller's transaction. */
type Db = { prisma: Pick<Prisma.TransactionClient, "user"> };

/** Finds a user named by id or username (DESIGN.md: wherever a user is named, either works). */
export function findUserRef(services: Db, ref: string) {
  const value = ref.trim();
  return services.prisma.user.findUnique({
    where: isUuid(value) ? { id: value } : { usernameKey: value.toLowerCase() },
    select: { id: true, username: true },
  });
}

export async function requireUserRef(services: Db, ref: string, field: string) {
  const user = await findUserRef(services, ref);
  if (!user) throw notFound(`User '${ref}' (argument ${field})`);
  return user;
}

/** Resolves a list of user refs at once; unknown ones are reported together, by the field. */
export async function requireUserRefs(services: Db, refs: readonly string[], field: string) {
  const values = [...new Set(refs.map((r) => r.trim()))];
  const ids = values.filter(isUuid);
  const names = values.filter((v) => !isUuid(v));
  const users = await services.prisma.user.findMany({
    where: { OR: [{ id: { in: ids } }, { usernameKey: { in: names.map((n) => n.toLowerCase()) } }] },
    select: { id: true, username: true },
  });
  const missing = values.filter(
    (v) => !users.some((u) => u.id === v || u.username.toLowerCase() === v.toLowerCase()),
  );
  if (missing.length) throw badInput(field, `Unknown user(s) in ${field}: ${missing.join(", ")}`);
  return users;
}
