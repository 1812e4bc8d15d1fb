// A real HTTP receiver on 127.0.0.1 (a free port) for provider and webhook tests: records every
// request and answers with a chosen status, failing the first N requests or all of them.
import { createServer, type IncomingHttpHeaders, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { listenLocal } from "./listen.ts";

export type ReceivedRequest = {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** The body parsed as JSON (undefined when it is not JSON). */
  body: unknown;
  /** The body exactly as sent (signatures are computed over these bytes). */
  rawBody: string;
  /** The status this receiver answered with. */
  status: number;
};

export type ReceiverOptions = {
  /** Answer the first `failFirst` requests with `status` (default 500), then 200. */
  failFirst?: number;
  /** Answer every request with `status` (default 500). */
  alwaysFail?: boolean;
  /** Status of a failing answer (default 500). With neither failFirst nor alwaysFail: every answer. */
  status?: number;
  /**
   * Decides the status per request (e.g. by the recipient in the body); returning undefined falls
   * back to the options above.
   */
  respond?: (request: { path: string; headers: IncomingHttpHeaders; body: unknown }) => number | undefined;
};

export type Receiver = {
  /** http://127.0.0.1:<port>/ (any path is accepted). */
  url: string;
  /** Every request so far, in arrival order. */
  requests: ReceivedRequest[];
  /** Changes the behaviour for the requests that follow. */
  configure(options: ReceiverOptions): void;
  close(): Promise<void>;
};

/** Starts a receiver; always `close()` it (afterAll). */
export async function startReceiver(options: ReceiverOptions = {}): Promise<Receiver> {
  let behaviour = options;
  let failuresLeft = options.failFirst ?? 0;
  const requests: ReceivedRequest[] = [];
  const sockets = new Set<Socket>();

  const statusFor = (): number => {
    const failing = behaviour.status ?? 500;
    if (behaviour.alwaysFail) return failing;
    if (failuresLeft > 0) {
      failuresLeft -= 1;
      return failing;
    }
    if (behaviour.failFirst === undefined && behaviour.status !== undefined) return behaviour.status;
    return 200;
  };

  const reply = (res: ServerResponse, status: number) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify({ ok: status < 300, id: `rcv-${requests.length}` }));
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const rawBody = Buffer.concat(chunks).toString("utf8");
      let body: unknown;
      try {
        body = rawBody ? JSON.parse(rawBody) : undefined;
      } catch {
        body = undefined;
      }
      const status = behaviour.respond?.({ path: req.url ?? "/", headers: req.headers, body }) ?? statusFor();
      requests.push({
        method: req.method ?? "",
        path: req.url ?? "/",
        headers: req.headers,
        body,
        rawBody,
        status,
      });
      reply(res, status);
    });
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  const port = await listenLocal(server, () => server.address());
  return {
    url: `http://127.0.0.1:${port}/`,
    requests,
    configure(next) {
      behaviour = next;
      failuresLeft = next.failFirst ?? 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
