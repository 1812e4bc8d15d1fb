import { createServer, type Server } from "node:http";
import type { Socket } from "node:net";
import type { ExecutionArgs } from "graphql";
import { useServer } from "graphql-ws/use/ws";
import { createYoga, maskError as yogaMaskError } from "graphql-yoga";
import { WebSocketServer } from "ws";
import { verifyToken } from "./auth/tokens.ts";
import type { Config } from "./config.ts";
import { type AppServices, createYogaContext, credentialsFromConnectionParams } from "./context.ts";
import { type Database, openDatabase } from "./db.ts";
import { toClientError } from "./errors.ts";
import { EventHub } from "./events/hub.ts";
import { createLocalPubSub, createRedisPubSub } from "./events/pubsub.ts";
import { Jobs } from "./jobs/queue.ts";
import { startWorkers } from "./jobs/workers.ts";
import { createLimits } from "./limits.ts";
import { schema } from "./schema/index.ts";

export type App = {
  services: AppServices;
  db: Database;
  server: Server;
  /** Listens (port 0 picks a free port) and resolves with the GraphQL endpoint URL. */
  start(port?: number, host?: string): Promise<string>;
  /**
   * Stops accepting, closes WebSockets with 1001 (going away), lets in-flight requests finish,
   * then closes pub/sub and the database. Safe to call twice.
   */
  stop(): Promise<void>;
};

/** graphql-ws hands our rootValue back to execute/subscribe: the enveloped pair of this operation. */
type Enveloped = { execute: (args: ExecutionArgs) => unknown; subscribe: (args: ExecutionArgs) => unknown };

/**
 * Builds one server instance: database (migrated), pub/sub (Redis when configured), the event log
 * reader, yoga for HTTP and SSE, and graphql-ws on the same port and path. Only src/server.ts
 * listens for real.
 */
export async function buildApp(config: Config): Promise<App> {
  const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  const pubsub = config.redisUrl ? createRedisPubSub(config.redisUrl) : createLocalPubSub();
  const hub = new EventHub(db.prisma, pubsub, { pollMs: config.eventPollMs, batchSize: 1000 });
  await hub.start();
  const jobs = await Jobs.open(db, config.jobs);
  const services: AppServices = {
    prisma: db.prisma,
    pubsub,
    hub,
    limits: createLimits(),
    jobs,
    config,
    jwtKey: new TextEncoder().encode(config.jwtSecret),
  };
  const stopWorkers = await startWorkers(services);
  const yoga = createYoga({
    schema,
    context: createYogaContext(services),
    graphqlEndpoint: "/graphql",
    graphiql: config.env !== "production" ? { subscriptionsProtocol: "WS" } : false,
    landingPage: false,
    // Expected (coded) errors are answers, not incidents; tests would drown in them.
    logging: config.env === "test" ? false : "info",
    // Coded errors pass through; anything unexpected is masked (no stack traces or SQL to clients).
    maskedErrors: {
      maskError: (error, message, isDev) => toClientError(error) ?? yogaMaskError(error, message, isDev),
    },
  });
  const server = createServer(yoga);
  const sockets = new Set<Socket>();
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });

  // graphql-ws on the same port and path; one set of plugins and one context factory with HTTP
  // (yoga.getEnveloped), as in graphql-yoga's graphql-ws example.
  const wss = new WebSocketServer({ server, path: yoga.graphqlEndpoint });
  const wsServer = useServer<Record<string, unknown>>(
    {
      isProd: config.env === "production",
      execute: (args) => (args.rootValue as Enveloped).execute(args) as never,
      subscribe: (args) => (args.rootValue as Enveloped).subscribe(args) as never,
      // A token that is present but bad closes the socket with 4403; no token is allowed (the
      // operations themselves then answer UNAUTHENTICATED, as over HTTP).
      onConnect: async (ctx) => {
        const { authorization } = credentialsFromConnectionParams(ctx.connectionParams);
        if (!authorization) return true;
        const token = /^Bearer\s+(\S+)$/i.exec(authorization.trim())?.[1];
        return Boolean(token && (await verifyToken(token, services.jwtKey)));
      },
      onSubscribe: async (ctx, _id, payload) => {
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          ...ctx,
          req: ctx.extra.request,
          socket: ctx.extra.socket,
          params: payload,
          connectionParams: ctx.connectionParams ?? {},
        });
        const args: ExecutionArgs = {
          schema,
          operationName: payload.operationName ?? null,
          document: parse(payload.query),
          variableValues: payload.variables ?? null,
          contextValue: await contextFactory(),
          rootValue: { execute, subscribe } satisfies Enveloped,
        };
        const errors = validate(args.schema, args.document);
        return errors.length ? errors : args;
      },
    },
    wss,
  );

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
        for (const client of wss.clients) client.close(1001, "Server shutting down");
        await wsServer.dispose();
        // Idle keep-alive sockets would hold close() open; in-flight requests finish first.
        server.closeIdleConnections();
        const force = setTimeout(() => {
          for (const socket of sockets) socket.destroy();
        }, 5_000);
        await closed;
        clearTimeout(force);
        await stopWorkers();
        await jobs.stop();
        hub.stop();
        await pubsub.close();
        await db.close();
      })();
      return stopping;
    },
  };
}
