import { createServer, type Server } from "node:http";
import type { Socket } from "node:net";
import { type ExecutionArgs, GraphQLError } from "graphql";
import { useServer } from "graphql-ws/use/ws";
import { createYoga, maskError as yogaMaskError } from "graphql-yoga";
import { Redis } from "ioredis";
import { WebSocketServer } from "ws";
import { clientIp } from "../core/client-ip.ts";
import type { Config } from "../core/config.ts";
import { type Database, openDatabase } from "../core/db.ts";
import { codedError, toClientError } from "../core/errors.ts";
import { Jobs } from "../core/jobs.ts";
import { consume, createLimits } from "../core/limits.ts";
import { createLogger, useErrorLogging, useOperationNameInLogs, yogaLogger } from "../core/logger.ts";
import { createMetrics, useMetrics } from "../core/metrics.ts";
import { createLocalPubSub, createRedisPubSub } from "../core/pubsub.ts";
import { EventHub } from "../events/hub.ts";
import { verifyToken } from "../features/users/tokens.ts";
import { type AppServices, createYogaContext, credentialsFromConnectionParams } from "../schema/context.ts";
import { schema } from "../schema/index.ts";
import { createHttpHandler } from "./http-handler.ts";
import { securityPlugins } from "./security/plugins.ts";
import { startWorkers } from "./workers.ts";

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
  const hardening = config.hardening;
  const metrics = createMetrics();
  const logger = createLogger(hardening.logLevel);
  const loggedErrors = new WeakSet<object>();
  // Rate limits and /readyz use a connection of their own: no offline queue, so while Redis is
  // down limits fall back to memory at once and the readiness probe fails fast.
  const redis = config.redisUrl
    ? new Redis(config.redisUrl, {
        enableOfflineQueue: false,
        maxRetriesPerRequest: 1,
        retryStrategy: (times) => Math.min(50 * 2 ** times, 2_000),
      })
    : undefined;
  redis?.on("error", () => {});
  const hub = new EventHub(db.prisma, pubsub, {
    pollMs: config.eventPollMs,
    batchSize: 1000,
    onDispatch: (events, listeners) => metrics.eventsDelivered.inc(events * listeners),
  });
  pubsub.onReconnect(() => metrics.pubsubReconnects.inc());
  pubsub.onAnnounce = (events) => metrics.eventsPublished.inc(events);
  await hub.start();
  const jobs = await Jobs.open(db, config.jobs);
  metrics.setQueueDepthSource(() => jobs.depth());
  const services: AppServices = {
    prisma: db.prisma,
    pubsub,
    hub,
    limits: createLimits(hardening, redis),
    metrics,
    jobs,
    config,
    jwtKey: new TextEncoder().encode(config.jwtSecret),
  };
  const stopWorkers = await startWorkers(services);
  const yoga = createYoga({
    schema,
    context: createYogaContext(services),
    graphqlEndpoint: "/graphql",
    graphiql: hardening.graphiql ? { subscriptionsProtocol: "WS" } : false,
    landingPage: false,
    // pino JSON lines; silent under NODE_ENV=test unless LOG_LEVEL says otherwise.
    logging: yogaLogger(logger, loggedErrors),
    // Coded errors pass through; anything unexpected is masked (no stack traces or SQL to clients;
    // details only in development).
    maskedErrors: {
      isDev: config.env === "development",
      maskError: (error, message, isDev) => toClientError(error) ?? yogaMaskError(error, message, isDev),
    },
    batching: false,
    ...(hardening.corsOrigins ? { cors: { origin: hardening.corsOrigins, credentials: false } } : {}),
    plugins: hardening.enabled
      ? [
          ...securityPlugins(config),
          useMetrics(metrics),
          useOperationNameInLogs(),
          useErrorLogging(logger, loggedErrors, (error) => toClientError(error) !== undefined),
        ]
      : [],
  });
  const server = createServer(
    hardening.enabled
      ? createHttpHandler({
          next: yoga,
          config: hardening,
          logger,
          metrics,
          checks: [
            { name: "database", run: () => db.prisma.$queryRaw`SELECT 1` },
            ...(redis ? [{ name: "redis", run: () => redis.ping() }] : []),
          ],
        })
      : yoga,
  );
  const sockets = new Set<Socket>();
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });

  // graphql-ws on the same port and path; one set of plugins and one context factory with HTTP
  // (yoga.getEnveloped), as in graphql-yoga's graphql-ws example.
  const wss = new WebSocketServer({ server, path: yoga.graphqlEndpoint });
  metrics.setWebSocketCount(() => wss.clients.size);
  const wsServer = useServer<Record<string, unknown>>(
    {
      isProd: config.env === "production",
      execute: (args) => (args.rootValue as Enveloped).execute(args) as never,
      subscribe: (args) => (args.rootValue as Enveloped).subscribe(args) as never,
      // A token that is present but bad closes the socket with 4403; no token is allowed (the
      // operations themselves then answer UNAUTHENTICATED, as over HTTP).
      // Connections per user (per IP before sign-in) are rate limited: over the limit the socket
      // closes with 4429, the code graphql-ws uses for "too many" and which its client does not
      // retry.
      onConnect: async (ctx) => {
        const { authorization } = credentialsFromConnectionParams(ctx.connectionParams);
        let caller = `ip:${clientIp(ctx.extra.request, hardening.trustProxy)}`;
        if (authorization) {
          const token = /^Bearer\s+(\S+)$/i.exec(authorization.trim())?.[1];
          const viewer = token ? await verifyToken(token, services.jwtKey) : null;
          if (!viewer) return false;
          caller = `user:${viewer.id}`;
        }
        try {
          await consume(services.limits.wsConnections, caller);
        } catch (error) {
          const retryAfter = (error as { extensions?: { retryAfter?: number } }).extensions?.retryAfter ?? 1;
          ctx.extra.socket.close(4429, `Too many connections: retry in ${retryAfter} s`);
          return false;
        }
        return true;
      },
      onSubscribe: async (ctx, _id, payload) => {
        // graphql-ws registers the new operation before calling us, so this counts it too.
        const limit = services.limits.subscriptionsPerSocket;
        if (Object.keys(ctx.subscriptions).length > limit) {
          return [
            codedError("RATE_LIMITED", `At most ${limit} operations at once on one connection`, {
              retryAfter: 1,
            }),
          ];
        }
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          ...ctx,
          req: ctx.extra.request,
          socket: ctx.extra.socket,
          params: payload,
          connectionParams: ctx.connectionParams ?? {},
        });
        let document: ExecutionArgs["document"];
        try {
          // Syntax errors and request limits (tokens) throw: answer them as errors, as HTTP does.
          document = parse(payload.query);
        } catch (error) {
          return [error instanceof GraphQLError ? error : new GraphQLError("Syntax error")];
        }
        const args: ExecutionArgs = {
          schema,
          operationName: payload.operationName ?? null,
          document,
          variableValues: payload.variables ?? null,
          contextValue: await contextFactory(),
          rootValue: { execute, subscribe } satisfies Enveloped,
        };
        let errors: readonly GraphQLError[];
        try {
          errors = validate(args.schema, args.document);
        } catch (error) {
          // GraphQL Armor's limits throw from validation.
          return [error instanceof GraphQLError ? error : new GraphQLError("Invalid operation")];
        }
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
        redis?.disconnect();
        await db.close();
        logger.flush();
      })();
      return stopping;
    },
  };
}
