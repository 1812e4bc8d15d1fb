import type { IncomingMessage } from "node:http";

/**
 * The caller's address for per-IP limits. X-Forwarded-For is client-controlled, so it counts only
 * with TRUST_PROXY = the number of proxies in front of us: each appends the address it saw, and the
 * entry that many from the right is the one our nearest trusted proxy vouches for. Entries further
 * left could be forged by the client and are ignored.
 */
export function clientIp(req: IncomingMessage, trustProxy: number): string {
  const socketAddress = normalize(req.socket?.remoteAddress ?? "unknown");
  if (trustProxy <= 0) return socketAddress;
  const header = req.headers["x-forwarded-for"];
  const list = (Array.isArray(header) ? header.join(",") : (header ?? ""))
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const chosen = list[list.length - trustProxy] ?? list[0];
  return chosen ? normalize(chosen) : socketAddress;
}

/** "::ffff:1.2.3.4" and "1.2.3.4" are one client. */
const normalize = (address: string) => address.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, "$1");
