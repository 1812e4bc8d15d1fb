// Every wait of the tests, in one place. Each one ends: when its condition holds, or with an error
// that names what was awaited (as graphql-ws tests/utils does), never by hanging until the test's
// own timeout.

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export type WaitOptions = {
  /** What is awaited, for the error ("the webhook", "two subscriptions to listen"). */
  what: string;
  /** Gives up after this long (default 10 s). */
  timeoutMs?: number;
};

/** Polls `condition` every `everyMs` (default 10) until it holds; rejects naming `what` after `timeoutMs`. */
export async function waitUntil(
  condition: () => boolean | Promise<boolean>,
  { what, timeoutMs = 10_000, everyMs = 10 }: WaitOptions & { everyMs?: number },
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** `promise`, unless it has not settled after `ms`: then rejects naming `what`. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]);
}

/**
 * Waits driven by arrivals rather than polling, for helpers that record what they receive
 * (subscription results, socket frames): they call `notify()` on each arrival, and every pending
 * `until` checks again.
 */
export function changes() {
  const waiters = new Set<() => void>();
  return {
    notify(): void {
      for (const check of [...waiters]) check();
    },
    /**
     * Resolves with the first value `get` returns other than undefined (checked now and at every
     * `notify`); rejects after `timeoutMs` naming `what`, followed by `detail()` (what did arrive).
     */
    until<T>(
      get: () => T | undefined,
      { what, timeoutMs = 10_000, detail }: WaitOptions & { detail?: () => string },
    ): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        const check = () => {
          const value = get();
          if (value === undefined) return false;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(value);
          return true;
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          const more = detail ? `; ${detail()}` : "";
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}${more}`));
        }, timeoutMs);
        if (!check()) waiters.add(check);
      });
    },
  };
}
