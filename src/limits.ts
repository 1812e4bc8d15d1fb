import { RateLimiterMemory, RateLimiterRes } from "rate-limiter-flexible";
import { codedError } from "./errors.ts";

/**
 * Rate limits for ephemeral signals (typing, live collaboration), per user, with short bursts.
 * rate-limiter-flexible rather than hand counting; in memory per instance for now.
 */
export type Limits = { typing: RateLimiterMemory; signal: RateLimiterMemory };

export function createLimits(): Limits {
  return {
    typing: new RateLimiterMemory({ keyPrefix: "typing", points: 10, duration: 1 }),
    signal: new RateLimiterMemory({ keyPrefix: "signal", points: 30, duration: 1 }),
  };
}

/** Takes one point for `key`, or throws RATE_LIMITED with retryAfter (seconds) in extensions. */
export async function consume(limiter: RateLimiterMemory, key: string): Promise<void> {
  try {
    await limiter.consume(key);
  } catch (result) {
    if (result instanceof RateLimiterRes) {
      const retryAfter = Math.max(1, Math.ceil(result.msBeforeNext / 1000));
      throw codedError("RATE_LIMITED", `Too many requests: retry in ${retryAfter} s`, { retryAfter });
    }
    throw result;
  }
}
