import { z } from "zod";

/** Development-only signing secret, used (with a warning) when JWT_SECRET is unset outside production. */
const DEV_JWT_SECRET = "dev-only-insecure-secret-change-me-0123456789";

const schema = z.object({
  NODE_ENV: z.enum(["development", "production", "test"]).default("development"),
  PORT: z.coerce.number().int().min(0).max(65535).default(4000),
  HOST: z.string().default("0.0.0.0"),
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
  /** Background jobs: attempts in all (the first included), first retry delay (doubles), idle poll. */
  JOB_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(25).default(3),
  JOB_RETRY_DELAY_SECONDS: z.coerce.number().int().min(1).default(5),
  JOB_POLL_SECONDS: z.coerce.number().min(0.5).default(2),
  /** Workers per queue on this instance; 0 runs none here (the instance only enqueues). */
  JOB_CONCURRENCY: z.coerce.number().int().min(0).max(64).default(4),
});

export type Config = {
  env: "development" | "production" | "test";
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
  jobs: { maxAttempts: number; retryDelaySeconds: number; pollSeconds: number; concurrency: number };
};

/** Reads and validates the environment once; throws one error listing every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join(".")}: ${i.message}`);
    throw new Error(`Invalid configuration:\n${lines.join("\n")}`);
  }
  const e = parsed.data;
  if (!e.JWT_SECRET && e.NODE_ENV === "production") {
    throw new Error("Invalid configuration:\n  JWT_SECRET: required in production");
  }
  if (!e.JWT_SECRET && e.NODE_ENV === "development") {
    console.warn("warning: JWT_SECRET is unset; using a development secret. Set it before going live.");
  }
  return {
    env: e.NODE_ENV,
    port: e.PORT,
    host: e.HOST,
    databaseUrl: e.DATABASE_URL,
    dataDir: e.DATA_DIR,
    redisUrl: e.REDIS_URL,
    jwtSecret: e.JWT_SECRET ?? DEV_JWT_SECRET,
    jwtTtlSeconds: e.JWT_TTL_SECONDS,
    apiKey: e.API_KEY,
    maxMessageLength: e.MAX_MESSAGE_LENGTH,
    maxPageSize: e.MAX_PAGE_SIZE,
    eventPollMs: e.EVENT_POLL_MS,
    jobs: {
      maxAttempts: e.JOB_MAX_ATTEMPTS,
      retryDelaySeconds: e.JOB_RETRY_DELAY_SECONDS,
      pollSeconds: e.JOB_POLL_SECONDS,
      concurrency: e.JOB_CONCURRENCY,
    },
  };
}
