// Member lists, a page at a time: a conversation's current members, and a message's readers (current
// members other than its sender whose read pointer has passed it). One call serves a whole batch of
// parents (every conversation or message of a response) in one statement, with a LIMIT per parent
// inside the database: neither the statements nor the rows read grow with the size of a group.
// Both lists are in join order (joinedAt, then the membership id), which reading does not change,
// so a cursor stays valid while members read.
import type { Actor } from "../../core/actor.ts";
import type { Services } from "../../core/services.ts";
import { Prisma } from "../../generated/prisma/client.ts";
import { visibleConversationSql } from "./visibility.ts";

/** `members`: of a conversation (parent ids are conversation ids); `readers`: of a message. */
export type MemberListKind = "members" | "readers";

/**
 * A page as Prisma's cursor pagination describes it: `take` rows after the membership with id
 * `cursor` (from the start without one), or, with a negative `take`, the rows before it.
 */
export type MemberPage = { take: number; cursor: string | null };

/** The parent rows and which of their memberships a list holds (trusted SQL, no user input). */
function listSql(kind: MemberListKind) {
  return kind === "members"
    ? {
        parents: Prisma.sql`"Conversation" p`,
        conversationId: Prisma.sql`p.id`,
        holds: Prisma.sql`mem."conversationId" = p.id AND mem."leftAt" IS NULL`,
      }
    : {
        parents: Prisma.sql`"Message" p`,
        conversationId: Prisma.sql`p."conversationId"`,
        holds: Prisma.sql`mem."conversationId" = p."conversationId" AND mem."leftAt" IS NULL
          AND mem."lastReadSeq" >= p.seq AND mem."userId" IS DISTINCT FROM p."senderId"`,
      };
}

/**
 * Membership ids of one page of each parent's list, in join order; parents the actor may not see
 * (or that do not exist) get no entry.
 */
export async function memberPageIds(
  services: Pick<Services, "prisma">,
  actor: Actor,
  input: { kind: MemberListKind; parentIds: readonly string[]; page: MemberPage },
): Promise<Map<string, string[]>> {
  const result = new Map<string, string[]>();
  const { take, cursor } = input.page;
  if (input.parentIds.length === 0 || take === 0) return result;
  const list = listSql(input.kind);
  const backward = take < 0;
  const after = cursor
    ? Prisma.sql`AND (mem."joinedAt", mem.id) ${backward ? Prisma.sql`<` : Prisma.sql`>`}
        (SELECT c."joinedAt", c.id FROM "Membership" c WHERE c.id = ${cursor}::uuid)`
    : Prisma.empty;
  const direction = backward ? Prisma.sql`DESC` : Prisma.sql`ASC`;
  const rows = await services.prisma.$queryRaw<{ parentId: string; id: string }[]>`
    SELECT p.id::text AS "parentId", page.id::text AS id
      FROM ${list.parents}
     CROSS JOIN LATERAL (
       SELECT mem.id, mem."joinedAt" FROM "Membership" mem
        WHERE ${list.holds} ${after}
        ORDER BY mem."joinedAt" ${direction}, mem.id ${direction}
        LIMIT ${Math.abs(take)}
     ) page
     WHERE p.id = ANY(${[...new Set(input.parentIds)]}::uuid[])
       AND ${visibleConversationSql(actor, list.conversationId)}
     ORDER BY p.id, page."joinedAt" ${direction}, page.id ${direction}`;
  for (const row of rows) {
    const ids = result.get(row.parentId) ?? [];
    ids.push(row.id);
    result.set(row.parentId, ids);
  }
  // Backward pages are read from the cursor back; they are handed out in join order like the rest.
  if (backward) for (const ids of result.values()) ids.reverse();
  return result;
}

/** How many members each parent's list holds (one statement); parents the actor may not see get none. */
export async function memberCounts(
  services: Pick<Services, "prisma">,
  actor: Actor,
  input: { kind: MemberListKind; parentIds: readonly string[] },
): Promise<Map<string, number>> {
  if (input.parentIds.length === 0) return new Map();
  const list = listSql(input.kind);
  const rows = await services.prisma.$queryRaw<{ parentId: string; n: number }[]>`
    SELECT p.id::text AS "parentId", (SELECT count(*)::int FROM "Membership" mem WHERE ${list.holds}) AS n
      FROM ${list.parents}
     WHERE p.id = ANY(${[...new Set(input.parentIds)]}::uuid[])
       AND ${visibleConversationSql(actor, list.conversationId)}`;
  return new Map(rows.map((r) => [r.parentId, r.n]));
}
