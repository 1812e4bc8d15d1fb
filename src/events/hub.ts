import type { PubSub, Unsubscribe } from "../core/pubsub.ts";
import type { PrismaClient } from "../generated/prisma/client.ts";
import { headPosition, type LogEvent, readEvents } from "./log.ts";
import { fromJson, isAfter, ORIGIN, type Position } from "./position.ts";

/** Longest pause between reads while an announced event is not readable yet. */
const MAX_RETRY_DELAY_MS = 16;
/** Longest pause between reads while reading fails. */
const MAX_FAILURE_DELAY_MS = 1000;

export type HubListener = (events: readonly LogEvent[]) => void;

export type HubOptions = {
  pollMs: number;
  batchSize: number;
  /** Told how many events were just handed to how many listeners (metrics). */
  onDispatch?: (events: number, listeners: number) => void;
};

/**
 * One log reader per instance. It follows the event log in (txid, id) order and hands every new
 * event to the instance's live subscriptions, so an event costs one read per instance, not one per
 * subscriber. It reads when a `log` notice arrives (another instance, or this one, committed), and
 * every `pollMs` anyway: pub/sub only makes delivery fast, the log makes it certain.
 */
export class EventHub {
  private position: Position = ORIGIN;
  private readonly listeners = new Set<HubListener>();
  private reading = false;
  private again = false;
  /** The newest position announced but not yet readable (its neighbours were still running). */
  private announced: Position = ORIGIN;
  private retryDelay = 0;
  /** The last read failed: retry with the longer backoff. */
  private failed = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private unsubscribe: Unsubscribe | undefined;
  private stopped = false;

  constructor(
    private readonly prisma: PrismaClient,
    private readonly pubsub: PubSub,
    private readonly options: HubOptions,
  ) {}

  async start(): Promise<void> {
    this.position = await headPosition(this.prisma);
    // Not awaited: with Redis down at start, the subscription completes when it comes back, and
    // polling covers the meantime.
    this.pubsub
      .subscribe("log", (notice) => {
        const p = fromJson(notice);
        if (isAfter(p, this.announced)) this.announced = p;
        this.wake();
      })
      .then(
        (unsubscribe) => {
          if (this.stopped) unsubscribe();
          else this.unsubscribe = unsubscribe;
        },
        (error: unknown) => console.warn(`log notices unavailable, polling only: ${String(error)}`),
      );
    this.pubsub.onReconnect(() => this.wake());
    this.pollTimer = setInterval(() => this.wake(), this.options.pollMs);
    this.pollTimer.unref();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.pollTimer);
    clearTimeout(this.retryTimer);
    this.unsubscribe?.();
    this.listeners.clear();
  }

  /**
   * Registers a live listener. It receives, in log order, every event after the returned position
   * (the point this instance has read to): a subscriber replays up to there from the log itself.
   */
  listen(listener: HubListener): { position: Position; close: () => void } {
    this.listeners.add(listener);
    return { position: this.position, close: () => this.listeners.delete(listener) };
  }

  get size(): number {
    return this.listeners.size;
  }

  /** Reads now (or right after the read in progress). */
  wake(): void {
    if (this.stopped) return;
    if (this.reading) {
      this.again = true;
      return;
    }
    this.reading = true;
    void this.drain();
  }

  private async drain(): Promise<void> {
    try {
      do {
        this.again = false;
        let batch: LogEvent[];
        do {
          batch = await readEvents(this.prisma, this.position, this.options.batchSize);
          const last = batch.at(-1);
          if (!last || this.stopped) break;
          // Advance and dispatch in one synchronous step: a listener that registers between two
          // reads gets either this batch or a position after it, never a gap or a repeat.
          this.position = { txid: last.txid, id: last.id };
          this.options.onDispatch?.(batch.length, this.listeners.size);
          for (const listener of this.listeners) {
            // One failing subscriber must not keep the batch from the others.
            try {
              listener(batch);
            } catch (error) {
              console.error(`event listener failed: ${String(error)}`);
            }
          }
        } while (batch.length === this.options.batchSize);
      } while (this.again && !this.stopped);
      this.failed = false;
    } catch (error) {
      console.error(`event log read failed (will retry): ${String(error)}`);
      this.failed = true;
      this.scheduleRetry();
    } finally {
      this.reading = false;
    }
    // An announced event may sit behind a transaction that is still running; look again soon
    // rather than at the next poll.
    if (isAfter(this.announced, this.position)) this.scheduleRetry();
    else if (!this.failed) this.retryDelay = 0;
  }

  /**
   * Backs off 2, 4, 8, 16 ms and stays there. The transaction an announced event waits behind is
   * usually another send or a job-queue poll that ends within milliseconds, and it does not always
   * announce anything when it does: a longer ceiling (it was 250 ms) set the realtime p99 (96-132 ms
   * against 52 ms with this one, bench/realtime.ts). Waiting behind a long transaction costs one
   * indexed read per 16 ms per instance. A failing read (database down) backs off to 1 s instead.
   */
  private scheduleRetry(): void {
    if (this.stopped || this.retryTimer) return;
    const ceiling = this.failed ? MAX_FAILURE_DELAY_MS : MAX_RETRY_DELAY_MS;
    this.retryDelay = Math.min(Math.max(this.retryDelay * 2, 2), ceiling);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.wake();
    }, this.retryDelay);
  }
}
