import type { Server } from "node:http";
import type { Socket } from "node:net";
import type { Config } from "../core/config.ts";
import type { Database } from "../core/db.ts";
import { createLogger } from "../core/logger.ts";
import type { AppServices } from "../schema/context.ts";
import { createHttpServer, createYogaServer } from "./http.ts";
import { wireServices } from "./services.ts";
import { Shutdown } from "./shutdown.ts";
import { startWorkers } from "./workers.ts";
import { attachWebSocket } from "./ws.ts";

export type App = {
  services: AppServices;
  db: Database;
  server: Server;
  /** Listens (port 0 picks a free port) and resolves with the GraphQL endpoint URL. */
  start(port?: number, host?: string): Promise<string>;
  /**
   * Stops accepting, completes every live subscription (SSE streams end), closes WebSockets with
   * 1001 (going away), lets in-flight requests finish, then closes pub/sub and the database. Safe
   * to call twice.
   */
  stop(): Promise<void>;
};

/**
 * Builds one server instance: services (app/services.ts), background workers, yoga for HTTP and
 * SSE (app/http.ts) and graphql-ws on the same port and path (app/ws.ts). Only src/server.ts
 * listens for real.
 */
export async function buildApp(config: Config): Promise<App> {
  const wiring = await wireServices(config);
  const { services, db } = wiring;
  const logger = createLogger(config.hardening.logLevel);
  const stopWorkers = await startWorkers(services);
  const shutdown = new Shutdown();
  const yoga = createYogaServer(wiring, logger, shutdown);
  const server = createHttpServer(wiring, yoga, logger);
  const sockets = new Set<Socket>();
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  // While stopping, a response that ends (an SSE stream completed by `shutdown`, an in-flight
  // request) leaves its keep-alive socket idle: close it then, rather than at the forced deadline.
  server.on("request", (_req, res) => {
    res.once("finish", () => {
      if (shutdown.closing) setImmediate(() => server.closeIdleConnections());
    });
  });
  const ws = attachWebSocket(server, yoga, services);

  let stopping: Promise<void> | null = null;
  return {
    services,
    db,
    server,
    start: (port = config.port, host = config.host) =>
      new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, host, () => {
          const address = server.address();
          const actual = typeof address === "object" && address ? address.port : port;
          const shown = host === "0.0.0.0" || host === "::" ? "localhost" : host;
          resolve(`http://${shown}:${actual}/graphql`);
        });
      }),
    stop: () => {
      stopping ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        // Every live subscription completes now: SSE streams end (their sockets then close as
        // idle), graphql-ws operations get Complete before their sockets close with 1001.
        shutdown.close();
        await ws.close();
        // Idle keep-alive sockets would hold close() open; in-flight requests finish first.
        server.closeIdleConnections();
        const force = setTimeout(() => {
          for (const socket of sockets) socket.destroy();
        }, 5_000);
        await closed;
        clearTimeout(force);
        await stopWorkers();
        await wiring.close();
        logger.flush();
      })();
      return stopping;
    },
  };
}
