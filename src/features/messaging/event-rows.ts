import DataLoader from "dataloader";
import type { Message, Prisma, PrismaClient } from "../../generated/prisma/client.ts";

/** A Pothos prisma selection (`include` / `select`), as a resolver's `query` argument carries it. */
type Selection = { include?: Prisma.MessageInclude; select?: Prisma.MessageSelect };

type Key = { selection: Selection; shape: string; id: string };

/**
 * The rows events point at, loaded for every subscription of the instance together: the events of
 * one read of the log reach their subscribers in the same tick, so their messages are loaded by one
 * query per selection shape, however many events and subscribers there are (resolve once, deliver
 * many; schema/shared-execution.ts shares the rest). Nothing is cached past the batch: an event
 * shows its message as it is when the event is delivered, and a later edit is a later event.
 */
class EventRows {
  private readonly messages: DataLoader<Key, unknown, string>;

  constructor(prisma: PrismaClient) {
    this.messages = new DataLoader<Key, unknown, string>(
      async (keys) => {
        const byShape = new Map<string, { selection: Selection; ids: Set<string> }>();
        for (const k of keys) {
          const group = byShape.get(k.shape) ?? { selection: k.selection, ids: new Set<string>() };
          group.ids.add(k.id);
          byShape.set(k.shape, group);
        }
        const found = new Map<string, unknown>();
        await Promise.all(
          [...byShape].map(async ([shape, { selection, ids }]) => {
            const rows = await prisma.message.findMany({
              ...selection,
              where: { id: { in: [...ids] } },
            } as never);
            for (const row of rows as { id: string }[]) found.set(`${shape}\u0000${row.id}`, row);
          }),
        );
        return keys.map(
          (k) => found.get(`${k.shape}\u0000${k.id}`) ?? new Error(`Message ${k.id} not found`),
        );
      },
      // Batches only: every delivery asks anew (see above).
      { cache: false, cacheKeyFn: (k) => `${k.shape}\u0000${k.id}` },
    );
  }

  /** The message with the selection a resolver was given (its `query`). */
  message(selection: Selection, id: string): Promise<Message> {
    // The selection is whatever the client's document asked for: its JSON groups equal requests.
    // A `select` gains the id, which maps rows back to their keys.
    const withId = selection.select ? { ...selection, select: { ...selection.select, id: true } } : selection;
    return this.messages.load({ selection: withId, shape: JSON.stringify(withId), id }) as Promise<Message>;
  }
}

/** One per database client, i.e. per app instance (tests run several in one process). */
const perClient = new WeakMap<PrismaClient, EventRows>();

export function eventRows(prisma: PrismaClient): EventRows {
  let rows = perClient.get(prisma);
  if (!rows) {
    rows = new EventRows(prisma);
    perClient.set(prisma, rows);
  }
  return rows;
}
