// A bare WebSocket speaking graphql-transport-ws by hand, for protocol-rule tests: every frame sent
// is exactly what the test wrote, every frame received is recorded, and the close code is observable.
import WebSocket from "ws";
import { changes, within } from "./wait.ts";

export type Frame = { type: string; id?: string; payload?: unknown };
export type Closed = { code: number; reason: string };

export type RawSocket = {
  readonly ws: WebSocket;
  /** Frames received so far, parsed. */
  readonly frames: Frame[];
  /** Resolves when the socket has closed (with the code the peer sent). */
  readonly closed: Promise<Closed>;
  send(frame: Frame | string): void;
  /** Resolves with the first received frame of `type` (already received ones count); bounded. */
  next(type: string, timeoutMs?: number): Promise<Frame>;
  /** Resolves with the close; rejects after `timeoutMs`. */
  waitClose(timeoutMs?: number): Promise<Closed>;
  close(): void;
};

/** Opens `ws://.../graphql` for `httpUrl` with `protocol` and waits (bounded) until it is open. */
export async function openRaw(
  httpUrl: string,
  protocol: string | string[] = "graphql-transport-ws",
): Promise<RawSocket> {
  const ws = new WebSocket(httpUrl.replace(/^http/, "ws"), protocol);
  const frames: Frame[] = [];
  const arrivals = changes();
  const closed = new Promise<Closed>((resolve) => {
    ws.on("close", (code, reason) => {
      resolve({ code, reason: reason.toString() });
      arrivals.notify();
    });
  });
  ws.on("message", (data) => {
    frames.push(JSON.parse(String(data)) as Frame);
    arrivals.notify();
  });
  ws.on("error", () => {});
  await within(
    new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    }),
    5_000,
    "the WebSocket to open",
  );
  return {
    ws,
    frames,
    closed,
    send: (frame) => ws.send(typeof frame === "string" ? frame : JSON.stringify(frame)),
    next: (type, timeoutMs = 5_000) =>
      arrivals.until(() => frames.find((f) => f.type === type), {
        what: `a ${type} frame`,
        timeoutMs,
        detail: () => `frames ${JSON.stringify(frames)}`,
      }),
    waitClose: (timeoutMs = 5_000) => within(closed, timeoutMs, "the socket to close"),
    close: () => ws.close(),
  };
}

/** connection_init (with a bearer token when given), then waits for connection_ack. */
export async function initRaw(socket: RawSocket, token?: string): Promise<void> {
  socket.send({ type: "connection_init", payload: token ? { authorization: `Bearer ${token}` } : {} });
  await socket.next("connection_ack");
}
