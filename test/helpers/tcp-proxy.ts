// A TCP proxy on 127.0.0.1 in front of a real server (PostgreSQL, here) that a test can cut and
// restore: cutting drops every open connection and refuses new ones (as a server that went down),
// restoring listens again on the same port. The server behind it is never touched.
import { connect, createServer, type Server, type Socket } from "node:net";
import { listenLocal } from "./listen.ts";

export type TcpProxy = {
  port: number;
  /** Drops every connection through the proxy and refuses new ones until `restore`. */
  cut(): Promise<void>;
  /** Accepts connections again, on the same port. */
  restore(): Promise<void>;
  close(): Promise<void>;
};

export async function startTcpProxy(targetPort: number, targetHost = "127.0.0.1"): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  const make = () =>
    createServer((client) => {
      const upstream = connect(targetPort, targetHost);
      sockets.add(client);
      sockets.add(upstream);
      client.pipe(upstream);
      upstream.pipe(client);
      const end = () => {
        client.destroy();
        upstream.destroy();
        sockets.delete(client);
        sockets.delete(upstream);
      };
      for (const s of [client, upstream]) {
        s.on("close", end);
        s.on("error", end);
      }
    });
  let server: Server | null = make();
  const port = await listenLocal(server, () => server?.address() ?? null);
  const stop = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      sockets.clear();
      if (!server) return resolve();
      server.close(() => resolve());
      server = null;
    });
  return {
    port,
    cut: stop,
    restore: async () => {
      if (server) return;
      const next = make();
      await new Promise<void>((resolve, reject) => {
        next.once("error", reject);
        next.listen(port, "127.0.0.1", () => resolve());
      });
      server = next;
    },
    close: stop,
  };
}
