// The `events` polling query's rules: the event log as pages, for tools that cannot receive
// webhooks or hold a subscription open (n8n, Make, Zapier-style polling triggers).
import { type Actor, actorUser, hasApiKey } from "../../core/actor.ts";
import { badInput, forbidden } from "../../core/errors.ts";
import type { Services } from "../../core/services.ts";
import {
  countEvents,
  type EventFilter,
  type EventType,
  type LogEvent,
  prunedBefore,
  readEvents,
} from "../../events/log.ts";
import { decodeCursor, type Position } from "../../events/position.ts";
import { checkResumable, checkStillRetained } from "../../events/stream.ts";
import { visibleConversationIds } from "../messaging/visibility.ts";
import { cleanEventTypes, resolveEventData } from "./webhooks.ts";

const DEFAULT_PAGE = 20;

export type EventPage = {
  events: (LogEvent & { data: unknown })[];
  hasNextPage: boolean;
  /** Where this page started (the end cursor of an empty page). */
  after: Position;
  count: () => Promise<number>;
};

/**
 * `events`: the API key reads every event. A user reads the events of the conversations they may
 * see now (the visibility rule) and those addressed to them; of a conversation they are no longer
 * in, only their removal or leaving (not, say, their own old read receipts, which point at messages).
 */
export async function readEventPage(
  services: Services,
  actor: Actor,
  args: { after?: string | null; types?: readonly string[] | null; first?: number | null },
): Promise<EventPage> {
  if (args.first != null && args.first < 0) throw badInput("first", "first must not be negative");
  const size = Math.min(args.first ?? DEFAULT_PAGE, services.config.maxPageSize);
  const types = args.types?.length ? (cleanEventTypes(args.types, "types", false) as EventType[]) : null;
  let after = args.after != null ? decodeCursor(args.after, "after") : null;
  if (after) await checkResumable(services, after);
  else after = await prunedBefore(services.prisma);
  const start = after;

  let filter: EventFilter | undefined;
  const user = actorUser(actor);
  if (hasApiKey(actor)) {
    filter = types ? { types } : undefined;
  } else if (user) {
    const ids = await visibleConversationIds(services, actor, null);
    filter = {
      conversationIds: ids,
      userId: user.id,
      // Of a conversation they are out of, only the news that they are out.
      outsideTypes: ["member.removed", "member.left"],
      ...(types ? { types } : {}),
    };
  } else {
    throw forbidden("Sign in or send the API key");
  }
  // One more than asked tells whether another page is ready now.
  const events = await readEvents(services.prisma, start, size + 1, filter);
  // Retention may have pruned past `after` since the check above: then this page has a hole.
  if (args.after) await checkStillRetained(services, start);
  const page = events.slice(0, size);
  const data = await resolveEventData(services.prisma, page);
  return {
    events: page.map((e, i) => ({ ...e, data: data[i] })),
    hasNextPage: events.length > size,
    after: start,
    count: () => countEvents(services.prisma, start, filter),
  };
}
