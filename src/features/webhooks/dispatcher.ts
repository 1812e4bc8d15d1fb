// Follows the event log for webhooks, durably: its position lives in the database (one
// WebhookDispatchState row), and each batch moves it in the same transaction that writes the batch's
// deliveries and enqueues their jobs, so a crash repeats nothing and skips nothing.
import { v7 as uuidv7 } from "uuid";
import { headPosition, readEvents } from "../../events/log.ts";
import type { LiveServices as AppServices } from "../../events/services.ts";
import { writeTransaction } from "../../events/writer.ts";
import { endpointWants } from "./webhooks.ts";

export type DispatcherOptions = { pollMs: number; batchSize: number };

/** Shortest pause between two drains (a webhook waits at most this much longer). */
const MIN_DRAIN_GAP_MS = 50;

/**
 * One per instance; at most one dispatches at a time (the state row is taken FOR UPDATE SKIP
 * LOCKED: an instance that finds it taken leaves the work to the holder). Woken by the instance's
 * log reader (any new event, any instance) and by a timer, since notices are at-most-once.
 */
export class WebhookDispatcher {
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private closeListener: (() => void) | undefined;
  private delay: NodeJS.Timeout | undefined;
  private lastDrain = 0;
  private lastSkip = 0;

  constructor(
    private readonly services: AppServices,
    private readonly options: DispatcherOptions,
  ) {}

  start(): void {
    this.closeListener = this.services.hub.listen(() => this.wake()).close;
    this.timer = setInterval(() => this.wake(), this.options.pollMs);
    this.timer.unref();
    this.wake();
  }

  /** Stops waking and waits for the batch in progress to commit. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.delay);
    this.closeListener?.();
    await this.running;
  }

  wake(): void {
    if (this.stopped) return;
    if (this.running || this.delay) {
      this.again = true;
      return;
    }
    // Under a stream of writes the log reader wakes us for nearly every commit: take a breath
    // between drains so that one transaction dispatches many events instead of one each.
    const wait = this.lastDrain + MIN_DRAIN_GAP_MS - Date.now();
    if (wait > 0) {
      this.delay = setTimeout(() => {
        this.delay = undefined;
        this.wake();
      }, wait);
      return;
    }
    this.running = this.drain().finally(() => {
      this.running = null;
      this.lastDrain = Date.now();
      if (this.again) this.wake();
    });
  }

  private async drain(): Promise<void> {
    try {
      do {
        this.again = false;
        if (!(await this.anyActiveEndpoint())) {
          await this.skipIdle();
          continue;
        }
        if (!(await this.pending())) continue;
        // A full batch means more may be waiting: keep going rather than wait for the next wake.
        while (!this.stopped && (await this.dispatchBatch()) === this.options.batchSize) {}
      } while (this.again && !this.stopped);
    } catch (error) {
      // The transaction rolled back: nothing moved. The timer tries again.
      console.error(`webhook dispatch failed (will retry): ${String(error)}`);
    }
  }

  private anyActiveEndpoint(): Promise<boolean> {
    return this.services.prisma.webhookEndpoint
      .findFirst({ where: { active: true }, select: { id: true } })
      .then((e) => e !== null);
  }

  /**
   * With no active endpoint nothing needs dispatching: move the position to the log head (at most
   * once per poll interval) instead of reading every event. Under the position's lock, which
   * creating or re-activating an endpoint also takes (domain/webhooks.ts holdDispatchPosition), and
   * after checking again under it, so no endpoint can miss an event it should get.
   */
  private async skipIdle(): Promise<void> {
    if (Date.now() - this.lastSkip < this.options.pollMs) return;
    this.lastSkip = Date.now();
    await this.services.prisma.$transaction(async (tx) => {
      const [state] = await tx.$queryRaw<{ id: number }[]>`
        SELECT id FROM "WebhookDispatchState" WHERE id = 1 FOR UPDATE SKIP LOCKED`;
      if (!state) return;
      if (await tx.webhookEndpoint.findFirst({ where: { active: true }, select: { id: true } })) return;
      const head = await headPosition(tx);
      await tx.webhookDispatchState.update({ where: { id: 1 }, data: { txid: head.txid, eventId: head.id } });
    });
  }

  /**
   * Whether there is anything to dispatch, read without a lock or a transaction: most wakes find
   * nothing new (another instance took it, or a poll tick), and those should cost no write.
   */
  private async pending(): Promise<boolean> {
    const state = await this.services.prisma.webhookDispatchState.findUnique({ where: { id: 1 } });
    if (!state) return true;
    const next = await readEvents(this.services.prisma, { txid: state.txid, id: state.eventId }, 1);
    return next.length > 0;
  }

  /** One batch in one transaction; returns how many events it read (0 when another instance holds the lock). */
  async dispatchBatch(): Promise<number> {
    return writeTransaction(this.services, async (tx, _emit, enqueue) => {
      const [state] = await tx.$queryRaw<{ txid: bigint; eventId: bigint }[]>`
        SELECT txid, "eventId" FROM "WebhookDispatchState" WHERE id = 1 FOR UPDATE SKIP LOCKED`;
      if (!state) {
        // First use starts at the log head, so history is not sent to endpoints. When the row
        // exists and another instance holds it, this does nothing (and does not wait).
        const head = await headPosition(tx);
        await tx.$executeRaw`
          INSERT INTO "WebhookDispatchState" (id, txid, "eventId") VALUES (1, ${head.txid}, ${head.id})
          ON CONFLICT (id) DO NOTHING`;
        return 0;
      }
      // readEvents stops below the log horizon: nothing can commit behind `last`.
      const events = await readEvents(tx, { txid: state.txid, id: state.eventId }, this.options.batchSize);
      const last = events.at(-1);
      if (!last) return 0;
      const endpoints = await tx.webhookEndpoint.findMany({
        where: { active: true },
        select: { id: true, eventTypes: true, startSnapshot: true },
      });
      const rows = events.flatMap((e) =>
        endpoints
          .filter((endpoint) => endpointWants(endpoint, e))
          .map((endpoint) => ({
            id: uuidv7(),
            endpointId: endpoint.id,
            eventId: e.id,
            eventTxid: e.txid,
            eventType: e.type,
          })),
      );
      if (rows.length > 0) {
        await tx.webhookDelivery.createMany({ data: rows });
        await enqueue.many(
          "webhook.deliver",
          rows.map((r) => ({ data: { webhookDeliveryId: r.id } })),
        );
      }
      await tx.webhookDispatchState.update({
        where: { id: 1 },
        data: { txid: last.txid, eventId: last.id },
      });
      return events.length;
    });
  }
}
