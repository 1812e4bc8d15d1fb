import type { Plugin } from "graphql-yoga";
import { Counter, Gauge, Histogram, Registry } from "prom-client";

/** Operation names come from clients: keep the label set bounded whatever they send. */
const MAX_OPERATION_NAMES = 500;
const NAME = /^[A-Za-z_][A-Za-z0-9_]{0,99}$/;

/**
 * One app instance's Prometheus metrics, in a Registry of its own (tests run several apps in one
 * process, and a global registry would mix them up or refuse duplicate names).
 */
export type AppMetrics = {
  registry: Registry;
  operationDuration: Histogram<"operation_name" | "operation_type">;
  operationErrors: Counter<"operation_name" | "operation_type" | "code">;
  /** Events appended to the log (counted after their transaction committed). */
  eventsPublished: Counter;
  /** Log events handed to live subscriptions by this instance's reader (one per event and listener). */
  eventsDelivered: Counter;
  pubsubReconnects: Counter;
  /** Subscription event executions, and deliveries that reused another subscriber's execution. */
  subscriptionExecutions: Counter;
  subscriptionResultsShared: Counter;
  /** Events deleted by log retention, and the batches (short transactions) that deleted them. */
  eventsPruned: Counter;
  eventPruneBatches: Counter;
  activeSubscriptions: Gauge;
  /** Where the active WebSocket count comes from (the app's WebSocketServer). */
  setWebSocketCount(source: () => number): void;
  /**
   * Where `queue_depth` comes from: the job queue registers a callback that counts waiting jobs;
   * until one does, the gauge reads 0. A failing callback leaves the last value.
   */
  setQueueDepthSource(source: () => Promise<number>): void;
  /**
   * Where the event log's horizon lag comes from (`event_log_horizon_lag_transactions`,
   * `event_log_oldest_writer_seconds`): read at each scrape; 0 until a source is set.
   */
  setLogHorizonSource(source: () => Promise<{ transactions: number; oldestWriterSeconds: number }>): void;
  /** A bounded operation-name label: the name, "anonymous", or "other" past the cap. */
  operationLabel(name: string | undefined | null): string;
};

export function createMetrics(): AppMetrics {
  const registry = new Registry();
  let wsCount: () => number = () => 0;
  let queueDepth: (() => Promise<number>) | null = null;
  let horizon: (() => Promise<{ transactions: number; oldestWriterSeconds: number }>) | null = null;
  const seenNames = new Set<string>();
  const labelNames = ["operation_name", "operation_type"] as const;
  const metrics: AppMetrics = {
    registry,
    operationDuration: new Histogram({
      name: "graphql_operation_duration_seconds",
      help: "Execution time of GraphQL operations (subscriptions: until the stream is set up)",
      labelNames,
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    operationErrors: new Counter({
      name: "graphql_operation_errors_total",
      help: "GraphQL operations answered with errors, by the first error's code",
      labelNames: [...labelNames, "code"],
      registers: [registry],
    }),
    eventsPublished: new Counter({
      name: "events_published_total",
      help: "Events appended to the event log and announced after their commit",
      registers: [registry],
    }),
    eventsDelivered: new Counter({
      name: "events_delivered_total",
      help: "Log events handed to live subscriptions on this instance (per event and listener)",
      registers: [registry],
    }),
    subscriptionExecutions: new Counter({
      name: "subscription_executions_total",
      help: "Subscription events executed (once per event and authorization class, not per subscriber)",
      registers: [registry],
    }),
    subscriptionResultsShared: new Counter({
      name: "subscription_results_shared_total",
      help: "Subscription deliveries that reused the execution result of another subscriber of this instance",
      registers: [registry],
    }),
    pubsubReconnects: new Counter({
      name: "pubsub_reconnects_total",
      help: "Times the pub/sub subscriber connection came back after a loss",
      registers: [registry],
    }),
    eventsPruned: new Counter({
      name: "events_pruned_total",
      help: "Event-log rows deleted by retention (EVENT_RETENTION_DAYS) on this instance",
      registers: [registry],
    }),
    eventPruneBatches: new Counter({
      name: "event_prune_batches_total",
      help: "Retention batches run on this instance, each its own short transaction",
      registers: [registry],
    }),
    activeSubscriptions: new Gauge({
      name: "graphql_active_subscriptions",
      help: "Subscriptions streaming right now (WebSocket and SSE)",
      registers: [registry],
    }),
    setWebSocketCount: (source) => {
      wsCount = source;
    },
    setQueueDepthSource: (source) => {
      queueDepth = source;
    },
    setLogHorizonSource: (source) => {
      horizon = source;
    },
    operationLabel: (name) => {
      if (!name) return "anonymous";
      if (!NAME.test(name)) return "other";
      if (seenNames.has(name)) return name;
      if (seenNames.size >= MAX_OPERATION_NAMES) return "other";
      seenNames.add(name);
      return name;
    },
  };
  new Gauge({
    name: "websocket_connections_active",
    help: "Open graphql-ws WebSocket connections",
    registers: [registry],
    collect() {
      this.set(wsCount());
    },
  });
  new Gauge({
    name: "queue_depth",
    help: "Jobs waiting in the durable queue (0 until the queue reports)",
    registers: [registry],
    async collect() {
      if (!queueDepth) return this.set(0);
      try {
        this.set(await queueDepth());
      } catch {
        // keep the last value: a scrape must not fail because the queue could not be counted
      }
    },
  });
  // One read of the horizon per scrape feeds both gauges (collect runs for each; share the read).
  let reading: Promise<{ transactions: number; oldestWriterSeconds: number } | null> | null = null;
  const readHorizon = () => {
    reading ??= (horizon ? horizon().catch(() => null) : Promise.resolve(null)).finally(() => {
      setImmediate(() => {
        reading = null;
      });
    });
    return reading;
  };
  new Gauge({
    name: "event_log_horizon_lag_transactions",
    help: "Transaction ids between the newest one assigned and the event log's horizon (held back by open log writers)",
    registers: [registry],
    async collect() {
      const lag = await readHorizon();
      if (lag) this.set(lag.transactions);
      else if (!horizon) this.set(0);
    },
  });
  new Gauge({
    name: "event_log_oldest_writer_seconds",
    help: "Age of the oldest open event-log writer transaction in this database (0 when none): how long it holds subscribers back",
    registers: [registry],
    async collect() {
      const lag = await readHorizon();
      if (lag) this.set(lag.oldestWriterSeconds);
      else if (!horizon) this.set(0);
    },
  });
  return metrics;
}

type ErrorLike = { extensions?: Record<string, unknown> };

/** The first error's code, for the error counter's label. */
const firstCode = (errors: readonly ErrorLike[]) => {
  const code = errors[0]?.extensions?.code;
  return typeof code === "string" && NAME.test(code) ? code : "INTERNAL";
};

/**
 * Envelop plugin: duration and errors of every operation, and the number of live subscriptions. It
 * runs for HTTP, SSE and graphql-ws alike (graphql-ws goes through yoga.getEnveloped).
 */
export function useMetrics(metrics: AppMetrics): Plugin {
  return {
    onExecute({ args }) {
      const started = performance.now();
      const labels = operationLabels(metrics, args.document, args.operationName);
      return {
        onExecuteDone({ result }) {
          metrics.operationDuration.observe(labels, (performance.now() - started) / 1000);
          if ("errors" in result && result.errors?.length) {
            metrics.operationErrors.inc({ ...labels, code: firstCode(result.errors) });
          }
        },
      };
    },
    onSubscribe({ args }) {
      const started = performance.now();
      const labels = operationLabels(metrics, args.document, args.operationName);
      return {
        onSubscribeResult({ result }) {
          metrics.operationDuration.observe(labels, (performance.now() - started) / 1000);
          if ("errors" in result && result.errors?.length) {
            metrics.operationErrors.inc({ ...labels, code: firstCode(result.errors) });
            return;
          }
          metrics.activeSubscriptions.inc();
          let ended = false;
          return {
            onEnd() {
              if (!ended) metrics.activeSubscriptions.dec();
              ended = true;
            },
          };
        },
        onSubscribeError({ error }) {
          metrics.operationErrors.inc({ ...labels, code: firstCode([error as ErrorLike]) });
        },
      };
    },
    onValidate({ params }) {
      return ({ valid }) => {
        if (valid) return;
        const labels = operationLabels(metrics, params.documentAST, null);
        metrics.operationErrors.inc({ ...labels, code: "GRAPHQL_VALIDATION_FAILED" });
      };
    },
  };
}

type DocumentLike = {
  definitions: readonly { kind: string; name?: { value: string }; operation?: string }[];
};

function operationLabels(metrics: AppMetrics, document: DocumentLike, operationName?: string | null) {
  const ops = document.definitions.filter((d) => d.kind === "OperationDefinition");
  const op = operationName ? ops.find((d) => d.name?.value === operationName) : ops[0];
  return {
    operation_name: metrics.operationLabel(op?.name?.value ?? operationName),
    operation_type: op?.operation ?? "unknown",
  };
}
