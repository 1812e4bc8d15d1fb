// Graceful shutdown with a Server-Sent Events subscription open: the server ends the stream itself
// (a GraphQL-over-SSE `complete`, then the end of the response) as soon as SIGTERM arrives, so the
// process closes its database and exits 0 inside its 10 s deadline. The server runs as its own
// process (src/server.ts, as `npm start` runs it); the test's client is a plain fetch.
import { afterAll, describe, expect, inject, it } from "vitest";
import {
  MessageEventsForFaultsDocument,
  SendMessageForFaultsDocument,
  SignUpDocument,
} from "./gql/graphql.ts";
import { Client } from "./helpers/client.ts";
import { killAll, type ServerProc, startServerProcess } from "./helpers/processes.ts";
import { TEST_JWT_SECRET, uniqueName } from "./helpers/server.ts";
import { waitUntil, within } from "./helpers/wait.ts";

afterAll(() => killAll());

type SseFrame = { event: string; data: string };

/** An SSE subscription read frame by frame, noting how and when the stream ended. */
function openSse(url: string, token: string, query: string, variables: Record<string, unknown>) {
  const frames: SseFrame[] = [];
  const state = {
    status: 0,
    ended: false,
    error: undefined as unknown,
    serverRunningAtEnd: undefined as boolean | undefined,
  };
  let onEnd: (running: boolean) => void = () => {};
  const done = (async () => {
    try {
      const res = await fetch(url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          accept: "text/event-stream",
          authorization: `Bearer ${token}`,
        },
        body: JSON.stringify({ query, variables }),
      });
      state.status = res.status;
      if (!res.body) throw new Error(`no SSE body (status ${res.status})`);
      const decoder = new TextDecoder();
      let buffer = "";
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = /^event: ?(.*)$/m.exec(block)?.[1] ?? "";
          const data = block
            .split("\n")
            .filter((l) => l.startsWith("data:"))
            .map((l) => l.slice(5).trimStart())
            .join("\n");
          if (event) frames.push({ event, data });
        }
      }
    } catch (error) {
      state.error = error;
    } finally {
      state.ended = true;
      onEnd(true);
    }
  })();
  return {
    frames,
    state,
    done,
    /** Calls `fn` synchronously the moment the stream ends (to sample the server process then). */
    whenEnded(fn: () => boolean) {
      onEnd = () => {
        state.serverRunningAtEnd = fn();
      };
    },
  };
}

describe("SIGTERM with an open SSE subscription", () => {
  it("ends the SSE stream from the server (complete, then end of response) and exits 0", async () => {
    const target: ServerProc = await startServerProcess({
      DATABASE_URL: inject("databaseUrl"),
      JWT_SECRET: TEST_JWT_SECRET,
      // No poll timer to speak of: only the shutdown can end the stream.
      EVENT_POLL_MS: "60000",
    });
    const client = new Client(target.url);
    const signUp = async () =>
      (
        await client.ok(SignUpDocument, {
          username: uniqueName("sd"),
          password: "password123",
          displayName: "Shutdown",
        })
      ).signUp;
    const [alice, bob] = [await signUp(), await signUp()];
    const a = client.as({ token: alice.token });
    const opening = (await a.ok(SendMessageForFaultsDocument, { to: bob.user.id, content: "opening" }))
      .sendMessage;
    const conversationId = opening.conversation.id;

    const sse = openSse(target.url, bob.token, MessageEventsForFaultsDocument.toString(), { conversationId });
    sse.whenEnded(() => target.running);
    // Live: a message sent now arrives on the stream (bounded loop: the subscription may take a
    // moment to start listening, so send until one arrives).
    await waitUntil(
      async () => {
        await a.ok(SendMessageForFaultsDocument, { conversationId, content: "live" });
        return sse.frames.some((f) => f.event === "next");
      },
      { what: "a message on the SSE stream", timeoutMs: 10_000, everyMs: 200 },
    );
    expect(sse.state.status).toBe(200);
    expect(sse.state.ended).toBe(false);

    target.signal("SIGTERM");
    const exit = await within(target.exited, 15_000, "the process to exit after SIGTERM");
    await within(sse.done, 5_000, "the SSE reader to finish");

    // The server ended the stream while it was still running (not the process dying under it),
    // cleanly: a `complete` frame, then the end of the response, no network error.
    expect(sse.state.serverRunningAtEnd).toBe(true);
    expect(sse.state.error).toBeUndefined();
    expect(sse.frames.at(-1)?.event).toBe("complete");
    // Exit code 0: the shutdown finished before the 10 s deadline (which exits 1).
    expect(exit).toEqual({ code: 0, signal: null });
    expect(target.output()).toContain("SIGTERM: shutting down");
  });
});
