import { isAsyncIterable, type Plugin, Repeater } from "graphql-yoga";
import { unauthenticated } from "../core/errors.ts";
import type { Context } from "../schema/context.ts";

/**
 * Ends a running subscription (SSE or one WebSocket operation) when the token it was opened with is
 * revoked: the stream stops with UNAUTHENTICATED. Each instance learns of revocations from the log
 * (app/services.ts), so this holds wherever the revocation was made.
 */
export function useSessionWatch(): Plugin {
  return {
    onSubscribe() {
      return {
        onSubscribeResult({ args, result, setResult }) {
          const ctx = args.contextValue as Partial<Context>;
          const session = ctx.session;
          const sessions = ctx.sessions;
          if (!session || !sessions || !isAsyncIterable(result)) return;
          setResult(
            new Repeater(async (push, stop) => {
              const unwatch = sessions.watch(session.claims, () =>
                stop(unauthenticated("Token revoked: sign in again")),
              );
              const events = result[Symbol.asyncIterator]();
              // Races each read with the stop, so a stream that is quiet still ends at once.
              const stopped = stop.then(() => ({ done: true as const, value: undefined }));
              try {
                for (;;) {
                  const next = await Promise.race([events.next(), stopped]);
                  if (next.done) break;
                  await push(next.value);
                }
              } catch (error) {
                stop(error);
              } finally {
                unwatch();
                stop();
                await events.return?.();
              }
            }),
          );
        },
      };
    },
  };
}
