import type { Redis } from "ioredis";
import {
  BurstyRateLimiter,
  type IRateLimiterOptions,
  RateLimiterMemory,
  RateLimiterRedis,
  RateLimiterRes,
} from "rate-limiter-flexible";
import type { HardeningConfig } from "./config.ts";
import { codedError } from "./errors.ts";

/** Anything that takes points for a key and rejects with a RateLimiterRes when they run out. */
export type Limiter = Pick<RateLimiterMemory, "consume"> | BurstyRateLimiter;

/**
 * Rate limits, built with rate-limiter-flexible rather than by hand. With Redis they are shared by
 * every instance (a client cannot multiply its allowance by hitting several); each Redis limiter has
 * an in-memory insurance limiter, so a Redis outage falls back to per-instance limits instead of
 * failing requests or letting everything through.
 */
export type Limits = {
  /** sendMessage / replyToMessage per user: a per-second rate plus a burst allowance per minute. */
  send: Limiter;
  typing: Limiter;
  signal: Limiter;
  /** signUp + logIn attempts per client IP, per minute. */
  authIp: Limiter;
  /** logIn attempts per (IP, username) in 15 minutes, taken before checking (a success clears them). */
  loginFailures: RateLimiterMemory | RateLimiterRedis;
  /** New WebSocket connections per user (per IP before sign-in), per minute. */
  wsConnections: Limiter;
  /** Operations one WebSocket may run at once (checked per socket, so not shared). */
  subscriptionsPerSocket: number;
};

/** Window of the failed-logIn counter. */
export const LOGIN_FAILURE_WINDOW_SECONDS = 15 * 60;

/**
 * Builds every limiter from config; `redis` (when REDIS_URL is set) makes them shared. Disabled
 * hardening (HARDENING=off, benchmarks only) gets limiters that never run out.
 */
export function createLimits(config?: HardeningConfig, redis?: Redis): Limits {
  const r = config?.rateLimits;
  const off = config !== undefined && !config.enabled;
  const make = (keyPrefix: string, points: number, duration: number) => {
    const options: IRateLimiterOptions = {
      keyPrefix: `rl:${keyPrefix}`,
      points: off ? 1e9 : points,
      duration,
    };
    if (!redis) return new RateLimiterMemory(options);
    return new RateLimiterRedis({
      ...options,
      storeClient: redis,
      // Fail over to the insurance limiter at once while Redis is away, instead of queueing.
      rejectIfRedisNotReady: true,
      insuranceLimiter: new RateLimiterMemory(options),
    });
  };
  const perSecond = (keyPrefix: string, rate: number, burstPerMinute: number) =>
    burstPerMinute > 0
      ? new BurstyRateLimiter(make(keyPrefix, rate, 1), make(`${keyPrefix}:burst`, burstPerMinute, 60))
      : make(keyPrefix, rate, 1);
  return {
    send: perSecond("send", r?.sendPerSecond ?? 20, r?.sendBurst ?? 200),
    typing: make("typing", r?.typingPerSecond ?? 10, 1),
    signal: make("signal", r?.signalPerSecond ?? 30, 1),
    authIp: make("auth-ip", r?.authPerIpPerMinute ?? 300, 60),
    loginFailures: make("login-fail", r?.loginFailuresPerUsername ?? 10, LOGIN_FAILURE_WINDOW_SECONDS),
    wsConnections: make("ws-conn", r?.wsConnectionsPerMinute ?? 120, 60),
    subscriptionsPerSocket: off ? Number.POSITIVE_INFINITY : (r?.subscriptionsPerSocket ?? 100),
  };
}

/** The RATE_LIMITED error for a limiter's rejection: retryAfter (whole seconds, at least 1). */
export function rateLimited(msBeforeNext: number) {
  const retryAfter = Math.max(1, Math.ceil(msBeforeNext / 1000));
  return codedError("RATE_LIMITED", `Too many requests: retry in ${retryAfter} s`, { retryAfter });
}

/** Takes one point for `key`, or throws RATE_LIMITED with retryAfter (seconds) in extensions. */
export async function consume(limiter: Limiter, key: string): Promise<void> {
  try {
    await limiter.consume(key);
  } catch (result) {
    if (result instanceof RateLimiterRes) throw rateLimited(result.msBeforeNext);
    throw result;
  }
}

/**
 * Brute-force guard for logIn: refuses while `username` has used up its failures, and counts a
 * failure when `attempt` resolves false. A success clears the count, so a user who finally gets the
 * password right is not punished for earlier typos.
 */
export async function guardLogin(
  limits: Limits,
  caller: { ip: string; username: string },
  attempt: () => Promise<boolean>,
): Promise<boolean> {
  const limiter = limits.loginFailures;
  // Per (IP, username): a stranger guessing from one address locks only that address out of the
  // account, not its owner everywhere.
  const key = `${caller.ip}:${caller.username.trim().toLowerCase()}`;
  // The point is taken before the password is checked, so parallel guesses cannot all slip past a
  // check made before any of them failed: at most `points` passwords are ever evaluated per window.
  await consume(limiter, key);
  const ok = await attempt();
  if (ok) await limiter.delete(key); // a success clears the count (and refunds its own point)
  return ok;
}
