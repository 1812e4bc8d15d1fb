import { randomUUID } from "node:crypto";
import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import type { Logger } from "pino";
import type { HardeningConfig } from "../core/config.ts";
import { scopeOfRequest } from "../core/logger.ts";
import type { AppMetrics } from "../core/metrics.ts";
import { safeEqual } from "../features/users/tokens.ts";

/** A readiness check: resolves when the dependency answers, rejects (or times out) when not. */
export type Check = { name: string; run: () => Promise<unknown> };

export type HttpOptions = {
  /** yoga (or anything else) for every path not handled here. */
  next: RequestListener;
  config: HardeningConfig;
  logger: Logger;
  metrics: AppMetrics;
  /** /readyz checks: the database, and Redis when configured. */
  checks: Check[];
};

/** An incoming X-Request-Id is kept when it looks like an id (so it cannot inject into logs). */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const CHECK_TIMEOUT_MS = 2_000;

/**
 * The Node-level front of the app: request id (honouring X-Request-Id) and an access log line per
 * request, the body-size limit (413) before anything reads a body, and the operational endpoints
 * /healthz, /readyz and /metrics. Everything else goes to yoga.
 */
export function createHttpHandler(options: HttpOptions): RequestListener {
  const { next, config, logger, metrics, checks } = options;
  return (req, res) => {
    const incoming = req.headers["x-request-id"];
    const requestId = typeof incoming === "string" && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    res.setHeader("x-request-id", requestId);
    const scope = { requestId, operationName: undefined as string | undefined };
    scopeOfRequest.set(req, scope);
    const started = performance.now();
    res.once("finish", () => {
      const path = (req.url ?? "/").split("?")[0];
      // Probes and scrapes are frequent and say nothing: debug only.
      const level = path === "/healthz" || path === "/readyz" || path === "/metrics" ? "debug" : "info";
      logger[level](
        {
          requestId: scope.requestId,
          operationName: scope.operationName,
          method: req.method,
          path,
          status: res.statusCode,
          durationMs: Math.round((performance.now() - started) * 100) / 100,
        },
        "request completed",
      );
    });
    route(req, res);
  };

  function route(req: IncomingMessage, res: ServerResponse) {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method === "GET" || req.method === "HEAD") {
      if (path === "/healthz") return json(res, 200, { status: "ok" });
      if (path === "/readyz") return void ready(res);
      if (path === "/metrics") return void scrape(req, res);
    }
    if (!withinBodyLimit(req, res)) return;
    next(req, res);
  }

  async function ready(res: ServerResponse) {
    const results = await Promise.all(
      checks.map(async (check) => {
        try {
          await withTimeout(check.run(), CHECK_TIMEOUT_MS);
          return [check.name, "ok"] as const;
        } catch (error) {
          logger.warn({ check: check.name, err: error }, "readiness check failed");
          return [check.name, "failed"] as const;
        }
      }),
    );
    const failed = results.filter(([, state]) => state !== "ok").map(([name]) => name);
    json(res, failed.length ? 503 : 200, {
      status: failed.length ? "unavailable" : "ok",
      checks: Object.fromEntries(results),
      ...(failed.length ? { failed } : {}),
    });
  }

  async function scrape(req: IncomingMessage, res: ServerResponse) {
    const token = config.metricsToken;
    if (token) {
      const given = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? "")?.[1] ?? "";
      if (!safeEqual(given, token)) {
        res.setHeader("www-authenticate", 'Bearer realm="metrics"');
        return json(res, 401, { error: "metrics need Authorization: Bearer <METRICS_TOKEN>" });
      }
    }
    const body = await metrics.registry.metrics();
    res.writeHead(200, { "content-type": metrics.registry.contentType });
    res.end(body);
  }

  /**
   * Refuses bodies over MAX_BODY_BYTES with 413. A declared length is checked before reading; a
   * chunked body is read here up to the limit and handed on as a buffer (whatwg-node, under yoga,
   * uses `req.body` when it is set).
   */
  function withinBodyLimit(req: IncomingMessage, res: ServerResponse): boolean {
    const max = config.maxBodyBytes;
    const declared = req.headers["content-length"];
    if (declared !== undefined) {
      if (Number(declared) <= max) return true;
      tooLarge(req, res, max);
      return false;
    }
    if (!req.headers["transfer-encoding"]) return true;
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    req.on("data", (chunk: Buffer) => {
      if (refused) return;
      size += chunk.length;
      if (size > max) {
        refused = true;
        tooLarge(req, res, max);
        return;
      }
      chunks.push(chunk);
    });
    req.once("end", () => {
      if (refused) return;
      Object.assign(req, { body: Buffer.concat(chunks) });
      next(req, res);
    });
    return false;
  }
}

function tooLarge(req: IncomingMessage, res: ServerResponse, max: number) {
  // Discard the rest of the body (so the client reads our answer instead of a reset), then close:
  // Node's request timeout bounds how long a client can keep sending.
  res.setHeader("connection", "close");
  req.resume();
  json(res, 413, {
    errors: [
      {
        message: `Request body too large: at most ${max} bytes`,
        extensions: { code: "BAD_USER_INPUT", reason: "PAYLOAD_TOO_LARGE", maxBytes: max },
      },
    ],
  });
}

function json(res: ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { "content-type": "application/json; charset=utf-8" });
  res.end(JSON.stringify(body));
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms);
    }),
  ]);
}
