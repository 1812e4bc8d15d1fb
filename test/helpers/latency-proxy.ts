// A TCP proxy on 127.0.0.1 that delays everything the server sends back: a slow network link in
// front of a real server (fault injection without touching either side).
import { connect, createServer, type Socket } from "node:net";
import { listenLocal } from "./listen.ts";

export type LatencyProxy = { port: number; close(): Promise<void> };

/** Listens on a free port and forwards to 127.0.0.1:`targetPort`, delaying replies by `delayMs`. */
export async function startLatencyProxy(targetPort: number, delayMs: number): Promise<LatencyProxy> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(targetPort, "127.0.0.1");
    sockets.add(client);
    sockets.add(upstream);
    client.on("data", (chunk) => upstream.write(chunk));
    // Equal delays fire in order, so the byte stream stays intact.
    upstream.on("data", (chunk) => {
      setTimeout(() => {
        if (!client.destroyed) client.write(chunk);
      }, delayMs);
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on("close", end);
    client.on("error", end);
    // The server's last bytes travel as slowly as the others: close the client after them.
    upstream.on("close", () => setTimeout(end, delayMs));
    upstream.on("error", () => {});
  });
  const port = await listenLocal(server, () => server.address());
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
