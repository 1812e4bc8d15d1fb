// Outbound HTTP to addresses that API callers choose (webhook endpoints): only to public addresses,
// checked when the URL is accepted (a clear BAD_USER_INPUT) and again on every connection, at the
// address actually connected to, since DNS can change between the two (rebinding). Loopback,
// private, link-local (cloud metadata), CGNAT, multicast, unspecified, IPv6 unique-local and
// IPv4-mapped addresses are refused; WEBHOOK_ALLOW_PRIVATE=true (tests, on-premise setups) allows
// all of them but the metadata services and the unspecified address.
//
// The connect-time check is request-filtering-agent's http(s).Agent: it validates the IP literal,
// or each address DNS returns inside the socket's own lookup, so the address checked is the one
// connected to (no second resolution that could differ). One rule decides everywhere,
// refusedAddress(): ipaddr.js's range() must be "unicast" (as the agent decides it), and the
// metadata ranges are refused always.
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from "node:dns";
import { lookup } from "node:dns/promises";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { isIP, type LookupFunction } from "node:net";
import ipaddr from "ipaddr.js";
import { RequestFilteringHttpAgent, RequestFilteringHttpsAgent } from "request-filtering-agent";

/**
 * Refused even with private addresses allowed: link-local ranges, where cloud metadata services
 * live (169.254.169.254), and the other metadata addresses (AWS fd00:ec2::254, Alibaba
 * 100.100.100.200): they hand out credentials to whoever asks from inside.
 */
const METADATA = ["169.254.0.0/16", "fe80::/10", "fd00:ec2::254/128", "100.100.100.200/32"].map((cidr) =>
  ipaddr.parseCIDR(cidr),
);

/** Said with refusals that WEBHOOK_ALLOW_PRIVATE would lift (not metadata, not unspecified). */
export const ALLOW_PRIVATE_HINT = "WEBHOOK_ALLOW_PRIVATE=true allows private networks";

/**
 * Why `address` may not be called, or null when it may. A reason that starts with "a non-public
 * address" is one that allowPrivate lifts.
 */
export function refusedAddress(address: string, allowPrivate: boolean): string | null {
  if (!ipaddr.isValid(address)) return "not an IP address";
  const parsed = ipaddr.parse(address);
  const range = parsed.range();
  if (range === "unspecified") return "the unspecified address";
  // process() unwraps an IPv4-mapped IPv6 address, so ::ffff:169.254.169.254 is metadata too.
  const plain = ipaddr.process(address);
  if (METADATA.some(([net, bits]) => net.kind() === plain.kind() && plain.match(net, bits))) {
    return "a link-local or cloud metadata address";
  }
  // Strictly "unicast" (ipaddr.js, as request-filtering-agent decides): loopback, private,
  // linkLocal, carrierGradeNat, multicast, uniqueLocal, ipv4Mapped, reserved ... are not public.
  if (!allowPrivate && range !== "unicast") return `a non-public address (${range})`;
  return null;
}
/** How long the accept-time DNS lookup may take (the system resolver's own timeouts are long). */
const LOOKUP_TIMEOUT_MS = 5_000;

export type HostCheck =
  | { ok: true }
  | { ok: false; reason: "unresolved"; detail: string }
  | { ok: false; reason: "refused"; address: string; detail: string };

/**
 * Accept-time check of a URL's host: an IP literal as it is, a name through DNS (every address it
 * resolves to must be allowed). With allowPrivate, names are not resolved (nothing left to refuse
 * but metadata and unspecified literals; the connect-time check covers names).
 */
export async function checkHost(url: URL, allowPrivate: boolean): Promise<HostCheck> {
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  let addresses: string[];
  if (isIP(host)) {
    addresses = [host];
  } else if (allowPrivate) {
    return { ok: true };
  } else {
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("DNS lookup timed out")), LOOKUP_TIMEOUT_MS);
      });
      const found = await Promise.race([lookup(host, { all: true, verbatim: true }), timeout]);
      addresses = found.map((a) => a.address);
    } catch (error) {
      const code = (error as { code?: string }).code;
      return { ok: false, reason: "unresolved", detail: code ?? (error as Error).message };
    } finally {
      clearTimeout(timer);
    }
    if (addresses.length === 0) return { ok: false, reason: "unresolved", detail: "no address" };
  }
  for (const address of addresses) {
    const why = refusedAddress(address, allowPrivate);
    if (why) return { ok: false, reason: "refused", address, detail: why };
  }
  return { ok: true };
}

/**
 * The connect-time guard. request-filtering-agent checks the IP literal, or each address the
 * socket's lookup returns, before connecting: non-unicast unless allowPrivate, and the unspecified
 * address always. Our lookup and literal check add the metadata refusal that holds with
 * allowPrivate too (the agent's own deny list cannot mix IPv4 and IPv6 ranges).
 */
const agents = {
  public: {
    http: new RequestFilteringHttpAgent({ allowPrivateIPAddress: false, allowMetaIPAddress: false }),
    https: new RequestFilteringHttpsAgent({ allowPrivateIPAddress: false, allowMetaIPAddress: false }),
  },
  private: {
    http: new RequestFilteringHttpAgent({ allowPrivateIPAddress: true, allowMetaIPAddress: false }),
    https: new RequestFilteringHttpsAgent({ allowPrivateIPAddress: true, allowMetaIPAddress: false }),
  },
};

/** The connection was refused by the address check (not by the endpoint). */
export class RefusedAddressError extends Error {
  override name = "RefusedAddressError";
}

/** dns.lookup, refusing (as a lookup error) any address refusedAddress refuses. */
function guardedLookup(allowPrivate: boolean): LookupFunction {
  return (hostname: string, options: LookupOptions, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (error, found: LookupAddress[]) => {
      if (error) return callback(error, "", undefined);
      for (const { address } of found) {
        const why = refusedAddress(address, allowPrivate);
        if (why)
          return callback(
            new RefusedAddressError(`${hostname} resolves to ${address}: ${why}`),
            "",
            undefined,
          );
      }
      const [first] = found;
      if (options.all) return callback(null, found);
      if (!first)
        return callback(
          Object.assign(new Error(`${hostname}: no address`), { code: "ENOTFOUND" }),
          "",
          undefined,
        );
      return callback(null, first.address, first.family);
    });
  };
}

export type PostResult = { status: number };

/**
 * POSTs `body` to `url`, refusing addresses as refusedAddress does at connect time, and returns
 * the status only: the answer's body is never read (an endpoint's answer is not ours to keep or
 * show). Redirects are not followed. Rejects with RefusedAddressError when the address is
 * refused, with an AbortError / TimeoutError after `timeoutMs`, or with the network error.
 */
export function postGuarded(
  url: string,
  options: { headers: Record<string, string>; body: string; timeoutMs: number; allowPrivate: boolean },
): Promise<PostResult> {
  const target = new URL(url);
  const literal = target.hostname.replace(/^\[(.*)\]$/, "$1");
  if (isIP(literal)) {
    const why = refusedAddress(literal, options.allowPrivate);
    if (why) return Promise.reject(new RefusedAddressError(`${literal} is ${why}`));
  }
  const pair = options.allowPrivate ? agents.private : agents.public;
  const https = target.protocol === "https:";
  return new Promise<PostResult>((resolve, reject) => {
    const req = (https ? httpsRequest : httpRequest)(
      target,
      {
        method: "POST",
        agent: https ? pair.https : pair.http,
        lookup: guardedLookup(options.allowPrivate),
        headers: { ...options.headers, "content-length": String(Buffer.byteLength(options.body)) },
        signal: AbortSignal.timeout(options.timeoutMs),
      },
      (res) => {
        resolve({ status: res.statusCode ?? 0 });
        res.destroy();
      },
    );
    req.on("error", (error) => {
      // request-filtering-agent's refusal reads "DNS lookup <address>(...) is not allowed. ..."
      const agentRefusal = /^DNS lookup (\S+?)\(.* is not allowed/.exec(error.message);
      if (agentRefusal?.[1]) {
        const why = refusedAddress(agentRefusal[1], options.allowPrivate) ?? "refused";
        reject(new RefusedAddressError(`${agentRefusal[1]} is ${why}`));
      } else reject(error);
    });
    req.end(options.body);
  });
}
