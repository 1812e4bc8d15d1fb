// Graceful shutdown of live subscriptions: when the app stops, every running subscription's stream
// completes (SSE responses end with a `complete` event, graphql-ws operations with a Complete
// message) instead of being cut when the sockets are destroyed, so the HTTP server can close and the
// database after it, well inside the shutdown deadline (src/server.ts).
import { type Plugin, Repeater } from "graphql-yoga";

/** Fires once, when the app starts stopping; subscriptions listen to it. */
export class Shutdown {
  private readonly listeners = new Set<() => void>();
  private closed = false;

  get closing(): boolean {
    return this.closed;
  }

  /** Runs `listener` on close (at once when already closed); returns a function that forgets it. */
  onClose(listener: () => void): () => void {
    if (this.closed) {
      listener();
      return () => {};
    }
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const listener of [...this.listeners]) listener();
    this.listeners.clear();
  }
}

const isAsyncIterable = (value: unknown): value is AsyncIterable<unknown> =>
  typeof value === "object" && value !== null && Symbol.asyncIterator in value;

/** The stream of `source` that completes (and returns `source`) when `shutdown` closes. */
function endOnShutdown<T>(source: AsyncIterable<T>, shutdown: Shutdown): AsyncIterable<T> {
  return new Repeater<T>(async (push, stop) => {
    const iterator = source[Symbol.asyncIterator]();
    const forget = shutdown.onClose(() => stop());
    const stopped = stop.then(() => null);
    try {
      for (;;) {
        const next = await Promise.race([iterator.next(), stopped]);
        if (next === null || next.done) break;
        await push(next.value);
      }
      stop();
    } catch (error) {
      stop(error);
    } finally {
      forget();
      // Not awaited: a source may settle its pending `next` before its `return`.
      Promise.resolve(iterator.return?.()).catch(() => {});
    }
  });
}

/** Envelop plugin: every subscription (HTTP/SSE and graphql-ws alike) ends when `shutdown` closes. */
export function useShutdown(shutdown: Shutdown): Plugin {
  return {
    onSubscribe() {
      return {
        onSubscribeResult({ result, setResult }) {
          if (isAsyncIterable(result)) setResult(endOnShutdown(result, shutdown) as typeof result);
        },
      };
    },
  };
}
