import { createClient, type Client as WsClient } from "graphql-ws";
import WebSocket from "ws";
import type { TypedDocumentString } from "../gql/graphql.ts";
import { changes, sleep } from "./wait.ts";

/** One live subscription's results, with waits that always end (graphql-ws tests/utils style). */
export type Subscription<T> = {
  /** Every payload received so far (data or errors), in order. */
  readonly results: {
    data?: T | null;
    errors?: { message: string; extensions?: Record<string, unknown> }[];
  }[];
  /** Data of the results so far. */
  readonly values: T[];
  readonly completed: boolean;
  readonly error: unknown;
  /** Resolves once at least `count` results arrived; rejects after `timeoutMs`. */
  waitFor(count: number, timeoutMs?: number): Promise<T[]>;
  /** Resolves when the subscription completes or errors; rejects after `timeoutMs`. */
  waitForEnd(timeoutMs?: number): Promise<void>;
  /** Waits `ms` and asserts nothing new arrived meanwhile (returns the count). */
  quietFor(ms: number): Promise<number>;
  unsubscribe(): void;
};

function collector<T>(): Subscription<T> & {
  push(r: Subscription<T>["results"][number]): void;
  end(e?: unknown): void;
  setUnsubscribe(fn: () => void): void;
} {
  const results: Subscription<T>["results"] = [];
  let completed = false;
  let error: unknown;
  let unsubscribe = () => {};
  const arrivals = changes();
  const until = async (done: () => boolean, timeoutMs: number, what: string) => {
    await arrivals.until(() => (done() ? true : undefined), {
      what,
      timeoutMs,
      detail: () => `got ${JSON.stringify(results)}`,
    });
  };
  return {
    results,
    get values() {
      return results.flatMap((r) => (r.data ? [r.data] : []));
    },
    get completed() {
      return completed;
    },
    get error() {
      return error;
    },
    async waitFor(count, timeoutMs = 10_000) {
      await until(() => results.length >= count || completed, timeoutMs, `${count} results`);
      if (results.length < count)
        throw new Error(
          `ended after ${results.length} of ${count} results: ${JSON.stringify(error ?? results)}`,
        );
      return this.values;
    },
    waitForEnd(timeoutMs = 10_000) {
      return until(() => completed, timeoutMs, "the end of the subscription");
    },
    async quietFor(ms) {
      const before = results.length;
      await sleep(ms);
      if (results.length !== before)
        throw new Error(`expected no new results, got ${JSON.stringify(results.slice(before))}`);
      return before;
    },
    unsubscribe: () => unsubscribe(),
    push(r) {
      results.push(r);
      arrivals.notify();
    },
    end(e) {
      completed = true;
      error = e;
      arrivals.notify();
    },
    setUnsubscribe(fn) {
      unsubscribe = fn;
    },
  };
}

/** A real graphql-ws client (no retries) authenticated with a bearer token in connectionParams. */
export function wsClient(httpUrl: string, token?: string, options: { lazy?: boolean } = {}): WsClient {
  return createClient({
    url: httpUrl.replace(/^http/, "ws"),
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    lazy: options.lazy ?? true,
    connectionParams: token ? { authorization: `Bearer ${token}` } : {},
  });
}

/** Subscribes over graphql-ws; results collect in order. */
export function subscribeWs<T, V>(
  client: WsClient,
  doc: TypedDocumentString<T, V>,
  variables?: V,
): Subscription<T> {
  const c = collector<T>();
  const unsubscribe = client.subscribe<T>(
    { query: doc.toString(), variables: (variables ?? {}) as Record<string, unknown> },
    {
      next: (r) => c.push(r as Subscription<T>["results"][number]),
      error: (e) => c.end(e),
      complete: () => c.end(),
    },
  );
  c.setUnsubscribe(unsubscribe);
  return c;
}

/**
 * Subscribes over Server-Sent Events (GraphQL over SSE, distinct connections mode, as graphql-yoga
 * serves it and GraphiQL uses it): a POST with `Accept: text/event-stream`.
 */
export function subscribeSse<T, V>(
  httpUrl: string,
  token: string | undefined,
  doc: TypedDocumentString<T, V>,
  variables?: V,
): Subscription<T> {
  const c = collector<T>();
  const abort = new AbortController();
  c.setUnsubscribe(() => abort.abort());
  void (async () => {
    try {
      const res = await fetch(httpUrl, {
        method: "POST",
        signal: abort.signal,
        headers: {
          "content-type": "application/json",
          accept: "text/event-stream",
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: JSON.stringify({ query: doc.toString(), variables: variables ?? {} }),
      });
      if (!res.body) throw new Error(`no SSE body (status ${res.status})`);
      const decoder = new TextDecoder();
      let buffer = "";
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let end = buffer.indexOf("\n\n");
        while (end >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = block
            .split("\n")
            .filter((l) => l.startsWith("data:"))
            .map((l) => l.slice(5).trimStart())
            .join("\n");
          if (event === "next" && data) c.push(JSON.parse(data));
          if (event === "complete") return c.end();
          end = buffer.indexOf("\n\n");
        }
      }
      c.end();
    } catch (error) {
      c.end(abort.signal.aborted ? undefined : error);
    }
  })();
  return c;
}
