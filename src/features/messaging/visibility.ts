// The one visibility rule for conversation-scoped rows (conversations, messages, threads, receipts,
// member lists): a user sees a conversation while they are an active member of it, and nothing of
// it otherwise: not what was said before they joined-and-left, not what came after. The API key
// and the server's own jobs see everything. Every path to such rows uses this file: queries
// (`visibleConversation` / `visibleMessage` where-fragments), field resolvers and the type-level
// guard on Conversation / Message / Member (`VisibilityLoader`), subscriptions
// (`visibleConversationIds`), idempotent replays and job handlers (`requireVisible*`).
import DataLoader from "dataloader";
import { LRUCache } from "lru-cache";
import { type Actor, actorUser, requireUser } from "../../core/actor.ts";
import { badInput, forbidden, notFound } from "../../core/errors.ts";
import { isUuid } from "../../core/input.ts";
import type { Services } from "../../core/services.ts";
import type { EventHub } from "../../events/hub.ts";
import type { EventType, LogEvent } from "../../events/log.ts";
import { eventStream, type StreamSpec } from "../../events/stream.ts";
import { type ConversationKind, type MemberRole, Prisma } from "../../generated/prisma/client.ts";

/** Matches no row; stands in for a missing user in relation filters on uuid columns. */
export const NIL_UUID = "00000000-0000-0000-0000-000000000000";

/** True when the actor sees every conversation (the API key, the system); users see their own. */
const seesAll = (actor: Actor) => actor.kind === "apiKey" || actor.kind === "system";

/** Prisma filter: conversations the actor may see. */
export function visibleConversation(actor: Actor): Prisma.ConversationWhereInput {
  if (seesAll(actor)) return {};
  return { memberships: { some: { userId: actorUser(actor)?.id ?? NIL_UUID, leftAt: null } } };
}

/**
 * The same rule for raw SQL: true where the conversation id in `column` (a trusted SQL expression,
 * never user input) is one the actor may see.
 */
export function visibleConversationSql(actor: Actor, column: Prisma.Sql): Prisma.Sql {
  if (seesAll(actor)) return Prisma.sql`TRUE`;
  return Prisma.sql`EXISTS (SELECT 1 FROM "Membership" v
    WHERE v."conversationId" = ${column} AND v."userId" = ${actorUser(actor)?.id ?? NIL_UUID}::uuid
      AND v."leftAt" IS NULL)`;
}

/** Prisma filter: messages the actor may see (those of conversations it may see). */
export function visibleMessage(actor: Actor): Prisma.MessageWhereInput {
  return seesAll(actor) ? {} : { conversation: visibleConversation(actor) };
}

export type VisibleMembership = { role: MemberRole; kind: ConversationKind; lastReadSeq: number };

/**
 * The user's active membership in a conversation, or NOT_FOUND: a conversation the user is not in
 * answers exactly like one that does not exist.
 */
export async function requireMembership(
  db: Pick<Prisma.TransactionClient, "membership">,
  conversationId: string,
  userId: string,
): Promise<VisibleMembership> {
  const membership = isUuid(conversationId)
    ? await db.membership.findUnique({
        where: { conversationId_userId: { conversationId, userId } },
        select: { role: true, leftAt: true, lastReadSeq: true, conversation: { select: { kind: true } } },
      })
    : null;
  if (!membership || membership.leftAt) throw notFound("Conversation");
  return { role: membership.role, kind: membership.conversation.kind, lastReadSeq: membership.lastReadSeq };
}

/** A conversation the actor may see, or NOT_FOUND. */
export async function requireVisibleConversation(
  services: Pick<Services, "prisma">,
  actor: Actor,
  conversationId: string,
): Promise<void> {
  if (seesAll(actor)) {
    const found = isUuid(conversationId)
      ? await services.prisma.conversation.findUnique({ where: { id: conversationId }, select: { id: true } })
      : null;
    if (!found) throw notFound("Conversation");
    return;
  }
  await requireMembership(services.prisma, conversationId, actorUser(actor)?.id ?? NIL_UUID);
}

const messageColumns = {
  id: true,
  conversationId: true,
  senderId: true,
  seq: true,
  parentId: true,
  deletedAt: true,
  content: true,
} as const;

/** A message the user may see (active member of its conversation), or NOT_FOUND, with the membership. */
export async function requireVisibleMessage(
  services: Pick<Services, "prisma">,
  userId: string,
  messageId: string,
) {
  const message = isUuid(messageId)
    ? await services.prisma.message.findUnique({ where: { id: messageId }, select: messageColumns })
    : null;
  if (!message) throw notFound("Message");
  const membership = await requireMembership(services.prisma, message.conversationId, userId).catch(() => {
    throw notFound("Message");
  });
  return { message, membership };
}

/** Of these conversations, the ones the actor may see (one query). */
export async function visibleConversationIds(
  services: Pick<Services, "prisma">,
  actor: Actor,
  conversationIds: readonly string[] | null,
): Promise<string[]> {
  const ids = conversationIds?.filter(isUuid) ?? null;
  if (ids?.length === 0) return [];
  if (seesAll(actor)) return ids ?? [];
  const rows = await services.prisma.membership.findMany({
    where: {
      userId: actorUser(actor)?.id ?? NIL_UUID,
      leftAt: null,
      ...(ids ? { conversationId: { in: [...new Set(ids)] } } : {}),
    },
    select: { conversationId: true },
  });
  return rows.map((r) => r.conversationId);
}

/**
 * Locks the conversation row for the rest of the transaction. Sends, reads, deletes and membership
 * changes of one conversation all take this lock first, so counters (seq, unread) stay exact and
 * the lock order (conversation, then memberships/messages) rules out deadlocks.
 */
export async function lockConversation(
  tx: Prisma.TransactionClient,
  conversationId: string,
  mode: "UPDATE" | "SHARE",
) {
  const rows =
    mode === "UPDATE"
      ? await tx.$queryRaw<
          { lastSeq: number }[]
        >`SELECT "lastSeq" FROM "Conversation" WHERE id = ${conversationId}::uuid FOR UPDATE`
      : await tx.$queryRaw<
          { lastSeq: number }[]
        >`SELECT "lastSeq" FROM "Conversation" WHERE id = ${conversationId}::uuid FOR SHARE`;
  const row = rows[0];
  if (!row) throw notFound("Conversation");
  return row.lastSeq;
}

/**
 * Inside a transaction: locks the conversation, then reads the user's membership, so the role it
 * returns cannot change before the transaction ends (every membership change takes the same lock).
 * Role checks run here, never before the transaction: a check made outside it races with a
 * concurrent removal or demotion.
 */
export async function lockMembership(
  tx: Prisma.TransactionClient,
  conversationId: string,
  userId: string,
  options: { roles?: readonly MemberRole[]; mode?: "UPDATE" | "SHARE" } = {},
): Promise<VisibleMembership & { lastSeq: number }> {
  if (!isUuid(conversationId)) throw notFound("Conversation");
  const lastSeq = await lockConversation(tx, conversationId, options.mode ?? "UPDATE");
  const membership = await requireMembership(tx, conversationId, userId);
  const allowed = options.roles;
  if (allowed) {
    if (membership.kind !== "GROUP")
      throw badInput("conversationId", "Direct conversations have no member management");
    if (!allowed.includes(membership.role))
      throw forbidden(`Only a group ${allowed.join(" or ")} can do this`);
  }
  return { ...membership, lastSeq };
}

/** How long a visibility answer is reused within one context (long-lived for subscriptions). */
const VISIBILITY_TTL_MS = 1000;

/**
 * Per-request (per-subscription) batched visibility checks for the type-level guard: every
 * Conversation, Message and Member a field returns is checked here, whatever path led to it.
 * Checks of one tick share one query; answers are kept for a second only, so a subscription that
 * lives for hours never rests on a membership that has since ended.
 */
export class VisibilityLoader {
  /** Made on first use: most requests (`me`, sends, mutations without a selection) never need it. */
  private loader: DataLoader<string, boolean> | undefined;

  constructor(
    private readonly services: Pick<Services, "prisma">,
    private readonly actor: Actor,
  ) {}

  private get batch(): DataLoader<string, boolean> {
    this.loader ??= new DataLoader<string, boolean>(
      async (ids) => {
        const visible = new Set(await visibleConversationIds(this.services, this.actor, ids));
        return ids.map((id) => visible.has(id));
      },
      { cacheMap: new LRUCache<string, Promise<boolean>>({ max: 500, ttl: VISIBILITY_TTL_MS }) },
    );
    return this.loader;
  }

  canSee(conversationId: string): Promise<boolean> {
    return this.batch.load(conversationId);
  }

  /** Records an answer already known (a stream that follows membership in the log). */
  prime(conversationId: string, visible: boolean): void {
    this.batch.clear(conversationId).prime(conversationId, visible);
  }
}

export type VisibleStreamSpec = StreamSpec & {
  /** Told about each conversation the stream vouches the user may see at that point of the log. */
  onVisible?: (conversationId: string) => void;
};

/**
 * The visibility rule applied to a live stream: one conversation only if the user may see it
 * (NOT_FOUND otherwise, answered by the subscribe call itself), and the user's visible conversations
 * as the starting set, which the stream then follows through the membership events of the log.
 */
export async function visibleEventStream(
  services: Pick<Services, "prisma"> & { hub: EventHub },
  actor: Actor,
  spec: VisibleStreamSpec,
): Promise<AsyncIterable<LogEvent>> {
  const user = requireUser(actor);
  const only = spec.conversationId ?? null;
  if (only !== null) await requireMembership(services.prisma, only, user.id);
  const onVisible = spec.onVisible;
  return eventStream(
    services,
    {
      userId: user.id,
      visibleConversations: () => visibleConversationIds(services, actor, only !== null ? [only] : null),
    },
    {
      ...spec,
      onDeliver: (e) => {
        // Membership events reach the user they concern even as they leave: they vouch for nothing.
        if (onVisible && e.conversationId && !MEMBERSHIP_EVENTS.has(e.type)) onVisible(e.conversationId);
        spec.onDeliver?.(e);
      },
    },
  );
}

const MEMBERSHIP_EVENTS = new Set<EventType>(["member.added", "member.removed", "member.left"]);
