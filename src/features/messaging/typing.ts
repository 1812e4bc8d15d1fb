// Ephemeral signals: typing indicators and free-form live collaboration signals (cursor positions
// and the like). Members only, rate limited, never logged: they travel over pub/sub alone and a
// missed one is simply gone.
import { Repeater } from "graphql-yoga";
import { type Actor, requireUser } from "../../core/actor.ts";
import { badInput, notFound } from "../../core/errors.ts";
import { consume } from "../../core/limits.ts";
import type { EphemeralNotice } from "../../core/pubsub.ts";
import type { Services } from "../../core/services.ts";
import type { LiveServices } from "../../events/services.ts";
import { requireMembership } from "./visibility.ts";

const MAX_SIGNAL_BYTES = 8_192;

/** `setTyping`: tells the other members the viewer is typing (or stopped). */
export function setTyping(
  services: Services,
  actor: Actor,
  input: { conversationId: string; typing: boolean },
): Promise<boolean> {
  return publishEphemeral(services, requireUser(actor).id, { kind: "typing", ...input });
}

/** `signal`: a live collaboration signal (type 1-64 characters, payload up to 8 KB of JSON). */
export function sendSignal(
  services: Services,
  actor: Actor,
  input: { conversationId: string; type: string; payload?: unknown },
): Promise<boolean> {
  const viewerId = requireUser(actor).id;
  const type = input.type.trim();
  if (type.length === 0 || type.length > 64) throw badInput("type", "type must be 1-64 characters");
  if (Buffer.byteLength(JSON.stringify(input.payload ?? null)) > MAX_SIGNAL_BYTES) {
    throw badInput("payload", `payload must be at most ${MAX_SIGNAL_BYTES} bytes of JSON`);
  }
  return publishEphemeral(services, viewerId, {
    kind: "signal",
    conversationId: input.conversationId,
    type,
    payload: input.payload ?? null,
  });
}

/**
 * Ephemeral notices of one conversation from other members. Ends with NOT_FOUND when the viewer
 * leaves or is removed (followed through the event log, in order).
 */
export async function ephemeralStream(
  ctx: LiveServices,
  actor: Actor,
  input: { conversationId: string; kind: EphemeralNotice["kind"] },
) {
  const viewerId = requireUser(actor).id;
  const { conversationId, kind } = input;
  await requireMembership(ctx.prisma, conversationId, viewerId);
  return new Repeater<EphemeralNotice>(async (push, stop) => {
    const membership = ctx.hub.listen((events) => {
      for (const e of events) {
        const gone = e.type === "member.removed" || e.type === "member.left";
        if (gone && e.userId === viewerId && e.conversationId === conversationId)
          stop(notFound("Conversation"));
      }
    });
    const unsubscribe = await ctx.pubsub
      .subscribe(`conversation:${conversationId}`, (notice) => {
        if (notice.kind === kind && notice.userId !== viewerId) push(notice).catch(stop);
      })
      .catch((error: unknown) => {
        stop(error);
        return () => {};
      });
    await stop;
    unsubscribe();
    membership.close();
  });
}

async function publishEphemeral(
  ctx: Services,
  viewerId: string,
  notice: Omit<EphemeralNotice, "userId" | "at">,
) {
  await requireMembership(ctx.prisma, notice.conversationId, viewerId);
  await consume(notice.kind === "typing" ? ctx.limits.typing : ctx.limits.signal, viewerId);
  const full: EphemeralNotice = { ...notice, userId: viewerId, at: new Date().toISOString() };
  // Best effort by design: an unavailable pub/sub loses the signal, never fails the caller.
  await ctx.pubsub.publish(`conversation:${notice.conversationId}`, full).catch(() => {});
  return true;
}
