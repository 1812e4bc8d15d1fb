// Member lists as connections (`Conversation.memberConnection`, `Message.readByConnection`) and the
// capped plain list `Message.readBy`. The pages come from features/messaging/members.ts, batched per
// request: every conversation or message of a response shares one statement for its pages, one for
// the members' rows (with the client's selection) and one for the counts.
import { createContextCache } from "@pothos/core";
import DataLoader from "dataloader";
import type { Membership, Prisma } from "../../generated/prisma/client.ts";
import { builder, pageLimits } from "../../schema/builder.ts";
import type { Context } from "../../schema/context.ts";
import { withValidCursor } from "../../schema/cursor.ts";
import { Member } from "./conversation.schema.ts";
import { type MemberListKind, type MemberPage, memberCounts, memberPageIds } from "./members.ts";

/** What Pothos plans for the members' rows (a relation's user, say). */
type MemberQuery = { include?: Prisma.MembershipInclude; select?: Prisma.MembershipSelect };
type PageKey = { kind: MemberListKind; parentId: string; page: MemberPage; query: MemberQuery };
type CountKey = { kind: MemberListKind; parentId: string };

/** Pages of one tick, grouped by what they ask (usually all alike): two statements per group. */
async function loadPages(ctx: Context, keys: readonly PageKey[]): Promise<Membership[][]> {
  const groups = new Map<string, PageKey[]>();
  for (const key of keys) {
    const group = JSON.stringify([key.kind, key.page, key.query]);
    groups.set(group, [...(groups.get(group) ?? []), key]);
  }
  const pages = new Map<PageKey, Membership[]>();
  await Promise.all(
    [...groups.values()].map(async (group) => {
      const { kind, page, query } = group[0] as PageKey;
      const parentIds = group.map((k) => k.parentId);
      const idsByParent = await memberPageIds(ctx, ctx.actor, { kind, parentIds, page });
      const ids = [...new Set([...idsByParent.values()].flat())];
      const rows = ids.length
        ? ((await ctx.prisma.membership.findMany({ ...query, where: { id: { in: ids } } })) as Membership[])
        : [];
      const byId = new Map(rows.map((r) => [r.id, r]));
      for (const key of group) {
        pages.set(
          key,
          (idsByParent.get(key.parentId) ?? []).flatMap((id) => byId.get(id) ?? []),
        );
      }
    }),
  );
  return keys.map((key) => pages.get(key) ?? []);
}

async function loadCounts(ctx: Context, keys: readonly CountKey[]): Promise<number[]> {
  const counts = new Map<MemberListKind, Map<string, number>>();
  for (const kind of new Set(keys.map((k) => k.kind))) {
    const parentIds = keys.filter((k) => k.kind === kind).map((k) => k.parentId);
    counts.set(kind, await memberCounts(ctx, ctx.actor, { kind, parentIds }));
  }
  return keys.map((k) => counts.get(k.kind)?.get(k.parentId) ?? 0);
}

// Batching only (no cache): a subscription's context lives for hours, and members come and go.
const pageLoader = createContextCache(
  (ctx: Context) => new DataLoader<PageKey, Membership[]>((keys) => loadPages(ctx, keys), { cache: false }),
);
const countLoader = createContextCache(
  (ctx: Context) => new DataLoader<CountKey, number>((keys) => loadCounts(ctx, keys), { cache: false }),
);

type ConnectionQuery = MemberQuery & { take: number; skip?: number; cursor?: { id?: unknown } };

/** One connection page: Pothos's take / cursor (checked: a bad cursor is BAD_USER_INPUT), batched. */
function connectionPage(
  ctx: Context,
  kind: MemberListKind,
  parentId: string,
  query: ConnectionQuery,
  args: { before?: string | null },
) {
  const { take, skip: _skip, cursor, ...selection } = withValidCursor(query, args);
  const page = { take, cursor: typeof cursor?.id === "string" ? cursor.id : null };
  return pageLoader(ctx).load({ kind, parentId, page, query: selection });
}

const MemberConnection = builder.connectionObject(
  { type: Member, name: "MemberConnection" },
  { name: "MemberEdge" },
);

builder.prismaObjectFields("Conversation", (t) => ({
  memberConnection: t.prismaConnection(
    {
      type: Member,
      cursor: "id",
      ...pageLimits,
      description:
        "Current members in the order they joined, a page at a time (`members` lists only the first MAX_PAGE_SIZE).",
      resolve: (query, conversation, args, ctx) =>
        connectionPage(ctx, "members", conversation.id, query, args),
      totalCount: (conversation, _args, ctx) =>
        countLoader(ctx).load({ kind: "members", parentId: conversation.id }),
    },
    MemberConnection,
  ),
}));

builder.prismaObjectFields("Message", (t) => ({
  readBy: t.prismaField({
    type: [Member],
    description:
      "Members (other than the sender) whose read pointer has passed this message, in the order they joined: the first MAX_PAGE_SIZE (100 by default) only; `readByConnection` pages through all of them.",
    resolve: (query, message, _args, ctx) => {
      const { include, select } = query as MemberQuery;
      const page = { take: ctx.config.maxPageSize, cursor: null };
      return pageLoader(ctx).load({
        kind: "readers",
        parentId: message.id,
        page,
        query: { include, select },
      });
    },
  }),
  readByConnection: t.prismaConnection(
    {
      type: Member,
      cursor: "id",
      ...pageLimits,
      description:
        "Members (other than the sender) whose read pointer has passed this message, in the order they joined, a page at a time.",
      resolve: (query, message, args, ctx) => connectionPage(ctx, "readers", message.id, query, args),
      totalCount: (message, _args, ctx) => countLoader(ctx).load({ kind: "readers", parentId: message.id }),
    },
    MemberConnection,
  ),
}));
