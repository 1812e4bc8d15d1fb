import { Repeater } from "graphql-yoga";
import { codedError, notFound } from "../core/errors.ts";
import type { Services } from "../core/services.ts";
import type { EventHub } from "./hub.ts";
import type { EventType, LogEvent } from "./log.ts";
import { currentSnapshot, headPosition, prunedBefore, readEvents } from "./log.ts";
import { comparePositions, decodeCursor, isAfter, type Position } from "./position.ts";

const MEMBERSHIP: readonly EventType[] = ["member.added", "member.removed", "member.left"];
const REPLAY_BATCH = 500;

export type StreamSpec = {
  /** Event types the subscriber receives. */
  types: readonly EventType[];
  /** Only this conversation (the caller checked that the user may see it). */
  conversationId?: string | null;
  /** Only events addressed to the viewer (userId), not conversation events. */
  addressedOnly?: boolean;
  /** Resume after this cursor: replay from the log, then go live, without gap or repeat. */
  after?: string | null;
  /** Told about each event just before it is handed to the subscriber. */
  onDeliver?: (e: LogEvent) => void;
};

export const eventPosition = (e: LogEvent): Position => ({ txid: e.txid, id: e.id });

/**
 * Who the stream is for. The conversations it may see come from the caller's visibility rule
 * (features/messaging/visibility.ts), read once after the stream listens; from then on the stream
 * follows the user's membership events in the log.
 */
export type StreamSubscriber = {
  userId: string;
  visibleConversations: () => Promise<readonly string[]>;
};

type StreamServices = Pick<Services, "prisma"> & { hub: EventHub };

/**
 * The events one subscriber may see, in log order, exactly once: replay after the cursor from the
 * log, then the instance's live feed, dropping anything at or before the last delivered position.
 * Membership is followed as the log goes: removed from a conversation, the viewer stops receiving
 * it at that point in the log (a single-conversation stream ends with NOT_FOUND).
 */
export async function eventStream(
  ctx: StreamServices,
  subscriber: StreamSubscriber,
  spec: StreamSpec,
): Promise<AsyncIterable<LogEvent>> {
  const viewer = { id: subscriber.userId };
  const wanted = new Set<EventType>(spec.types);
  // "" is no cursor (a client that lost its cursor must not silently start from now).
  const after = spec.after != null ? decodeCursor(spec.after) : null;
  const only = spec.conversationId ?? null;
  // Checked before the stream starts, so the subscribe call itself answers with the error.
  if (after) await checkResumable(ctx, after);

  return new Repeater<LogEvent>(async (push, stop) => {
    const buffered: LogEvent[] = [];
    let live = false;
    let failed = false;
    const fail = (error: unknown) => {
      failed = true;
      stop(error);
    };
    const conversations = new Set<string>();
    let cursor: Position;

    const deliver = (e: LogEvent) => {
      // Cheap rejection first: every live subscription of the instance sees every event.
      if (e.userId !== viewer.id && (e.conversationId === null || !conversations.has(e.conversationId)))
        return;
      if (failed || !isAfter(eventPosition(e), cursor)) return;
      if (snapshot?.sawCommitted(e.txid)) return; // committed before the subscription: history
      cursor = eventPosition(e);
      if (e.userId === viewer.id && e.conversationId && MEMBERSHIP.includes(e.type)) {
        if (e.type === "member.added") conversations.add(e.conversationId);
        else {
          conversations.delete(e.conversationId);
          if (only === e.conversationId) return fail(notFound("Conversation"));
        }
      }
      if (!wanted.has(e.type)) return;
      const own = e.userId === viewer.id;
      const visible = spec.addressedOnly
        ? own
        : (own && MEMBERSHIP.includes(e.type)) ||
          (e.conversationId !== null &&
            conversations.has(e.conversationId) &&
            (!only || e.conversationId === only));
      if (!visible) return;
      // A consumer that falls 1,024 events behind overflows the repeater: end its stream with the
      // error; the client resumes from its last cursor without losing anything.
      try {
        spec.onDeliver?.(e);
        push(e).catch(fail);
      } catch (error) {
        fail(error);
      }
    };

    // Without a cursor the stream starts at "now": a snapshot taken before listening. What it sees
    // committed is history; everything else (running then, or begun later) is news, and comes by
    // the replay below or the live feed. A position alone cannot say this: transactions commit out of
    // txid order, so some events after any position chosen as "now" were already committed.
    const snapshot = after ? null : await currentSnapshot(ctx.prisma);
    // Listen first and buffer, so nothing committed while we replay can slip between the two.
    const listener = ctx.hub.listen((events) => {
      if (live) for (const e of events) deliver(e);
      else buffered.push(...events);
    });
    try {
      for (const id of await subscriber.visibleConversations()) conversations.add(id);
      if (only && !conversations.has(only)) throw notFound("Conversation");

      cursor = after ?? snapshot?.start ?? listener.position;
      for (;;) {
        const batch = await readEvents(ctx.prisma, cursor, REPLAY_BATCH, {
          conversationIds: [...conversations],
          userId: viewer.id,
          types: [...wanted, ...MEMBERSHIP],
        });
        for (const e of batch) deliver(e);
        const last = batch.at(-1);
        if (failed || !last || batch.length < REPLAY_BATCH) break;
        // Filtered events are skipped by `deliver`'s cursor; move past the batch regardless.
        if (isAfter(eventPosition(last), cursor)) cursor = eventPosition(last);
      }
      // Retention may have pruned past the cursor while we replayed (the check above came first):
      // the batch that removed what we missed committed before our read, so it shows here.
      if (after && !failed) await checkStillRetained(ctx, after);
      live = true;
      for (const e of buffered.splice(0)) deliver(e);
    } catch (error) {
      fail(error);
    }
    await stop;
    listener.close();
  });
}

/** A cursor must lie inside the retained log: older ones were pruned, newer ones are not ours. */
export async function checkResumable(ctx: Pick<Services, "prisma">, after: Position) {
  const [pruned, head] = await Promise.all([prunedBefore(ctx.prisma), headPosition(ctx.prisma)]);
  if (comparePositions(after, pruned) < 0) throw cursorExpired();
  // Every real cursor lies below the log horizon; one at or above it could skip
  // events that are still to commit.
  if (after.txid >= head.txid) {
    throw codedError("BAD_USER_INPUT", "The cursor does not come from this server", { field: "after" });
  }
}

const cursorExpired = () =>
  codedError(
    "BAD_USER_INPUT",
    "The cursor is older than the retained event log: reload, then subscribe without it",
    {
      field: "after",
      reason: "CURSOR_EXPIRED",
    },
  );

/** CURSOR_EXPIRED when the log no longer holds what follows `after` (retention pruned past it). */
export async function checkStillRetained(ctx: Pick<Services, "prisma">, after: Position) {
  if (comparePositions(after, await prunedBefore(ctx.prisma)) < 0) throw cursorExpired();
}
