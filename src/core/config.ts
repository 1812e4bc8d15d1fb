import { randomBytes } from "node:crypto";
import { z } from "zod";

const BOOL_FLAG = z
  .enum(["true", "false", "1", "0", "on", "off", "yes", "no"])
  .transform((v) => ["true", "1", "on", "yes"].includes(v))
  .optional();

const schema = z.object({
  NODE_ENV: z.enum(["development", "production", "test"]).default("development"),
  PORT: z.coerce.number().int().min(0).max(65535).default(4000),
  /** Loopback unless set: a fresh clone is not reachable from the network until someone says so. */
  HOST: z.string().min(1).default("127.0.0.1"),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, "must be a postgresql:// URL")
    .optional(),
  /** Directory of the embedded PGlite database used when DATABASE_URL is unset. */
  DATA_DIR: z.string().default("./data"),
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, "must be a redis:// URL")
    .optional(),
  JWT_SECRET: z.string().min(32, "must be at least 32 characters").optional(),
  JWT_TTL_SECONDS: z.coerce
    .number()
    .int()
    .positive()
    .default(60 * 60 * 24 * 7),
  API_KEY: z.string().min(16, "must be at least 16 characters").optional(),
  MAX_MESSAGE_LENGTH: z.coerce.number().int().positive().default(10_000),
  /** Largest page a connection may ask for (`first` / `last`). */
  MAX_PAGE_SIZE: z.coerce.number().int().positive().default(100),
  /** How often each instance reads the event log when no pub/sub notice woke it (ms). */
  EVENT_POLL_MS: z.coerce.number().int().min(10).default(1000),
  /** Events older than this many days are deleted by the hourly retention job (0 keeps them all). */
  EVENT_RETENTION_DAYS: z.coerce.number().min(0).default(30),
  /** Events the retention job deletes per batch, each batch its own short transaction. */
  EVENT_RETENTION_BATCH_SIZE: z.coerce.number().int().min(1).max(100_000).default(5_000),
  // Production hardening (README, "Production hardening"). Booleans take true/false, 1/0, on/off.
  /** "off" drops limits, rate limits, metrics and request logs: for benchmarking the overhead only. */
  HARDENING: z.enum(["on", "off"]).default("on"),
  GRAPHIQL: BOOL_FLAG,
  INTROSPECTION: BOOL_FLAG,
  MAX_DEPTH: z.coerce.number().int().positive().default(12),
  MAX_ALIASES: z.coerce.number().int().min(0).default(15),
  MAX_COST: z.coerce.number().int().positive().default(50_000),
  MAX_TOKENS: z.coerce.number().int().positive().default(1_000),
  MAX_DIRECTIVES: z.coerce.number().int().min(0).default(50),
  MAX_BODY_BYTES: z.coerce.number().int().positive().default(1_000_000),
  /** Comma-separated allowed browser origins; unset allows any (tokens travel in headers, not cookies). */
  CORS_ORIGINS: z.string().optional(),
  /** How many proxies in front of us append to X-Forwarded-For (0: use the socket address). */
  TRUST_PROXY: z
    .string()
    .regex(/^(true|false|\d+)$/, "must be a number of proxies, true (1) or false (0)")
    .transform((v) => (v === "true" ? 1 : v === "false" ? 0 : Number(v)))
    .default(0),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).optional(),
  METRICS_TOKEN: z.string().min(16, "must be at least 16 characters").optional(),
  RATE_LIMIT_SEND_PER_SECOND: z.coerce.number().int().positive().default(20),
  RATE_LIMIT_SEND_BURST: z.coerce.number().int().min(0).default(200),
  RATE_LIMIT_TYPING_PER_SECOND: z.coerce.number().int().positive().default(10),
  RATE_LIMIT_SIGNAL_PER_SECOND: z.coerce.number().int().positive().default(30),
  RATE_LIMIT_AUTH_PER_IP_PER_MINUTE: z.coerce.number().int().positive().default(300),
  RATE_LIMIT_LOGIN_FAILURES_PER_USERNAME: z.coerce.number().int().positive().default(10),
  RATE_LIMIT_WS_CONNECTIONS_PER_MINUTE: z.coerce.number().int().positive().default(120),
  WS_MAX_SUBSCRIPTIONS_PER_SOCKET: z.coerce.number().int().positive().default(100),
  /** Background jobs: attempts in all (the first included), first retry delay (doubles), idle poll. */
  JOB_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(25).default(3),
  JOB_RETRY_DELAY_SECONDS: z.coerce.number().int().min(1).default(5),
  JOB_POLL_SECONDS: z.coerce.number().min(0.5).default(2),
  /** Workers per queue on this instance; 0 runs none here (the instance only enqueues). */
  JOB_CONCURRENCY: z.coerce.number().int().min(0).max(64).default(4),
  /** How long a webhook endpoint may take to answer before the attempt counts as failed (ms). */
  WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).default(10_000),
  /** Let webhook endpoints be on loopback / private networks (tests, on-premise); metadata stays refused. */
  WEBHOOK_ALLOW_PRIVATE: BOOL_FLAG,
  /** Out-of-app delivery providers (README, "Notifications"): unset means that channel is not configured. */
  SMTP_URL: z
    .string()
    .regex(/^smtps?:\/\//, "must be an smtp:// or smtps:// URL")
    .optional(),
  EMAIL_FROM: z.string().min(3).default("Messaging <no-reply@localhost>"),
  SMS_HTTP_URL: z.string().url("must be an http(s) URL").optional(),
  PUSH_HTTP_URL: z.string().url("must be an http(s) URL").optional(),
  /** How long one provider call (SMTP or HTTP) may take before it counts as a retryable failure. */
  PROVIDER_TIMEOUT_MS: z.coerce.number().int().positive().default(10_000),
  /** Recipients each broadcast fan-out job adds, in one transaction. */
  BROADCAST_BATCH_SIZE: z.coerce.number().int().min(1).max(10_000).default(1000),
  // Input caps (README, "Configuration"): a request cannot make the server write or read without bound.
  /** Most users one createGroup / addMembers call may name in `memberIds`. */
  MAX_GROUP_MEMBERS_PER_CALL: z.coerce.number().int().positive().default(100),
  /** Most active members a group may have (the owner included). */
  MAX_GROUP_MEMBERS: z.coerce.number().int().min(2).default(1000),
  /** Largest JSON argument (notification / broadcast `data`), in bytes of JSON text. */
  MAX_DATA_BYTES: z.coerce.number().int().positive().default(8192),
  /** Deepest nesting of objects and arrays in a JSON argument. */
  MAX_DATA_DEPTH: z.coerce.number().int().positive().default(10),
});

export type Config = {
  env: "development" | "production" | "test";
  /** Error details (stack, SQL) in responses: only with NODE_ENV=development set explicitly. */
  exposeErrorDetails: boolean;
  port: number;
  host: string;
  databaseUrl: string | undefined;
  dataDir: string;
  redisUrl: string | undefined;
  jwtSecret: string;
  jwtTtlSeconds: number;
  apiKey: string | undefined;
  maxMessageLength: number;
  maxPageSize: number;
  eventPollMs: number;
  /** Event log retention (EVENT_RETENTION_DAYS, 0 = keep everything; EVENT_RETENTION_BATCH_SIZE). */
  eventRetention: { days: number; batchSize: number };
  /** Production hardening; see src/security, src/http, src/observability and src/limits.ts. */
  hardening: HardeningConfig;
  jobs: { maxAttempts: number; retryDelaySeconds: number; pollSeconds: number; concurrency: number };
  /** allowPrivate: endpoints may be on loopback / private addresses (WEBHOOK_ALLOW_PRIVATE). */
  webhooks: { timeoutMs: number; allowPrivate: boolean };
  /** Providers of email, SMS and push delivery; undefined: that channel is not configured. */
  delivery: {
    smtpUrl: string | undefined;
    emailFrom: string;
    smsHttpUrl: string | undefined;
    pushHttpUrl: string | undefined;
    providerTimeoutMs: number;
  };
  /** Recipients per broadcast fan-out batch (BROADCAST_BATCH_SIZE). */
  broadcastBatchSize: number;
  /** Input caps: group sizes and JSON arguments (MAX_GROUP_MEMBERS*, MAX_DATA_*). */
  caps: InputCaps;
};

export type InputCaps = {
  groupMembersPerCall: number;
  groupMembers: number;
  dataBytes: number;
  dataDepth: number;
};

export type HardeningConfig = {
  /** False only for benchmarking the overhead (HARDENING=off). */
  enabled: boolean;
  graphiql: boolean;
  introspection: boolean;
  maxDepth: number;
  maxAliases: number;
  maxCost: number;
  maxTokens: number;
  maxDirectives: number;
  maxBodyBytes: number;
  /** null: any origin. */
  corsOrigins: string[] | null;
  trustProxy: number;
  logLevel: string;
  metricsToken: string | undefined;
  rateLimits: {
    sendPerSecond: number;
    sendBurst: number;
    typingPerSecond: number;
    signalPerSecond: number;
    authPerIpPerMinute: number;
    loginFailuresPerUsername: number;
    wsConnectionsPerMinute: number;
    subscriptionsPerSocket: number;
  };
};

/** A configuration that cannot run: one line per bad variable, printed without a stack trace. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

/** Reads and validates the environment once; throws one ConfigError listing every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`));
  }
  const e = parsed.data;
  if (!e.JWT_SECRET && e.NODE_ENV === "production") {
    throw new ConfigError(["JWT_SECRET: required in production (at least 32 characters)"]);
  }
  if (!e.JWT_SECRET && e.NODE_ENV === "development") {
    console.warn(
      "warning: JWT_SECRET is unset: this process signs tokens with a random secret of its own, so they " +
        "stop working when it restarts and on other instances. Set JWT_SECRET to keep them.",
    );
  }
  return {
    env: e.NODE_ENV,
    // The default NODE_ENV is development for GraphiQL and friendly defaults, but details of
    // unexpected errors (stack traces, SQL) go out only when someone asked for them by name.
    exposeErrorDetails: env.NODE_ENV === "development",
    port: e.PORT,
    host: e.HOST,
    databaseUrl: e.DATABASE_URL,
    dataDir: e.DATA_DIR,
    redisUrl: e.REDIS_URL,
    // No published fallback: without JWT_SECRET a secret nobody else knows, new each start.
    jwtSecret: e.JWT_SECRET ?? randomBytes(32).toString("base64url"),
    jwtTtlSeconds: e.JWT_TTL_SECONDS,
    apiKey: e.API_KEY,
    maxMessageLength: e.MAX_MESSAGE_LENGTH,
    maxPageSize: e.MAX_PAGE_SIZE,
    eventPollMs: e.EVENT_POLL_MS,
    eventRetention: { days: e.EVENT_RETENTION_DAYS, batchSize: e.EVENT_RETENTION_BATCH_SIZE },
    hardening: {
      enabled: e.HARDENING === "on",
      // Both default to on outside production, off in it.
      graphiql: e.GRAPHIQL ?? e.NODE_ENV !== "production",
      introspection: e.INTROSPECTION ?? e.NODE_ENV !== "production",
      maxDepth: e.MAX_DEPTH,
      maxAliases: e.MAX_ALIASES,
      maxCost: e.MAX_COST,
      maxTokens: e.MAX_TOKENS,
      maxDirectives: e.MAX_DIRECTIVES,
      maxBodyBytes: e.MAX_BODY_BYTES,
      corsOrigins: e.CORS_ORIGINS
        ? e.CORS_ORIGINS.split(",")
            .map((o) => o.trim())
            .filter(Boolean)
        : null,
      trustProxy: e.TRUST_PROXY,
      // Tests stay quiet unless asked; coded errors are answers, not incidents.
      logLevel: e.LOG_LEVEL ?? (e.NODE_ENV === "test" ? "silent" : "info"),
      metricsToken: e.METRICS_TOKEN,
      rateLimits: {
        sendPerSecond: e.RATE_LIMIT_SEND_PER_SECOND,
        sendBurst: e.RATE_LIMIT_SEND_BURST,
        typingPerSecond: e.RATE_LIMIT_TYPING_PER_SECOND,
        signalPerSecond: e.RATE_LIMIT_SIGNAL_PER_SECOND,
        authPerIpPerMinute: e.RATE_LIMIT_AUTH_PER_IP_PER_MINUTE,
        loginFailuresPerUsername: e.RATE_LIMIT_LOGIN_FAILURES_PER_USERNAME,
        wsConnectionsPerMinute: e.RATE_LIMIT_WS_CONNECTIONS_PER_MINUTE,
        subscriptionsPerSocket: e.WS_MAX_SUBSCRIPTIONS_PER_SOCKET,
      },
    },
    jobs: {
      maxAttempts: e.JOB_MAX_ATTEMPTS,
      retryDelaySeconds: e.JOB_RETRY_DELAY_SECONDS,
      pollSeconds: e.JOB_POLL_SECONDS,
      concurrency: e.JOB_CONCURRENCY,
    },
    webhooks: { timeoutMs: e.WEBHOOK_TIMEOUT_MS, allowPrivate: e.WEBHOOK_ALLOW_PRIVATE ?? false },
    delivery: {
      smtpUrl: e.SMTP_URL,
      emailFrom: e.EMAIL_FROM,
      smsHttpUrl: e.SMS_HTTP_URL,
      pushHttpUrl: e.PUSH_HTTP_URL,
      providerTimeoutMs: e.PROVIDER_TIMEOUT_MS,
    },
    broadcastBatchSize: e.BROADCAST_BATCH_SIZE,
    caps: {
      groupMembersPerCall: e.MAX_GROUP_MEMBERS_PER_CALL,
      groupMembers: e.MAX_GROUP_MEMBERS,
      dataBytes: e.MAX_DATA_BYTES,
      dataDepth: e.MAX_DATA_DEPTH,
    },
  };
}
