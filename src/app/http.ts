// graphql-yoga for HTTP and SSE, behind the hardening handler (limits, logs, metrics, health).
import { createServer, type Server } from "node:http";
import { createYoga, maskError as yogaMaskError } from "graphql-yoga";
import type { Logger } from "pino";
import { toClientError } from "../core/errors.ts";
import { useErrorLogging, useOperationNameInLogs, yogaLogger } from "../core/logger.ts";
import { useMetrics } from "../core/metrics.ts";
import { createYogaContext } from "../schema/context.ts";
import { schema } from "../schema/index.ts";
import { useSharedSubscriptionExecution } from "../schema/shared-execution.ts";
import { createHttpHandler } from "./http-handler.ts";
import { securityPlugins } from "./security/plugins.ts";
import type { Wiring } from "./services.ts";
import { useSessionWatch } from "./session-watch.ts";
import { type Shutdown, useShutdown } from "./shutdown.ts";

export function createYogaServer({ services, metrics }: Wiring, logger: Logger, shutdown: Shutdown) {
  const config = services.config;
  const hardening = config.hardening;
  const loggedErrors = new WeakSet<object>();
  return createYoga({
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
      isDev: config.exposeErrorDetails,
      maskError: (error, message, isDev) => toClientError(error) ?? yogaMaskError(error, message, isDev),
    },
    batching: false,
    ...(hardening.corsOrigins ? { cors: { origin: hardening.corsOrigins, credentials: false } } : {}),
    plugins: [
      // Not hardening options: a revoked token's subscriptions end, and stopping ends every
      // subscription's stream (app.ts stop()), whatever the settings.
      useSessionWatch(),
      useShutdown(shutdown),
      // Each event executes once per instance and authorization class, not once per subscriber.
      useSharedSubscriptionExecution({
        executed: () => metrics.subscriptionExecutions.inc(),
        shared: () => metrics.subscriptionResultsShared.inc(),
      }),
      ...(hardening.enabled
        ? [
            ...securityPlugins(config),
            useMetrics(metrics),
            useOperationNameInLogs(),
            // Coded answers are not incidents, except a database outage: that one is logged.
            useErrorLogging(logger, loggedErrors, (error) => {
              const coded = toClientError(error);
              return coded !== undefined && coded.extensions.code !== "UNAVAILABLE";
            }),
          ]
        : []),
    ],
  });
}

export function createHttpServer(
  wiring: Wiring,
  yoga: ReturnType<typeof createYogaServer>,
  logger: Logger,
): Server {
  const hardening = wiring.services.config.hardening;
  const { db, redis, metrics } = wiring;
  return createServer(
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
}
