// graphql-ws on the HTTP server's port and path, with one set of plugins and one context factory
// shared with HTTP (yoga.getEnveloped), as in graphql-yoga's graphql-ws example.
import type { Server } from "node:http";
import { type ExecutionArgs, GraphQLError } from "graphql";
import { useServer } from "graphql-ws/use/ws";
import type { YogaServerInstance } from "graphql-yoga";
import { WebSocketServer } from "ws";
import { clientIp } from "../core/client-ip.ts";
import { codedError } from "../core/errors.ts";
import { consume } from "../core/limits.ts";
import { type AppServices, bearerToken, credentialsFromConnectionParams } from "../schema/context.ts";

/** graphql-ws hands our rootValue back to execute/subscribe: the enveloped pair of this operation. */
type Enveloped = { execute: (args: ExecutionArgs) => unknown; subscribe: (args: ExecutionArgs) => unknown };

// biome-ignore lint/suspicious/noExplicitAny: yoga's server and user context types are not needed here
type AnyYoga = YogaServerInstance<any, any>;

export function attachWebSocket(server: Server, yoga: AnyYoga, services: AppServices) {
  const hardening = services.config.hardening;
  const wss = new WebSocketServer({ server, path: yoga.graphqlEndpoint });
  services.metrics?.setWebSocketCount(() => wss.clients.size);
  const wsServer = useServer<Record<string, unknown>>(
    {
      isProd: !services.config.exposeErrorDetails,
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
          const token = bearerToken(authorization);
          const session = token ? await services.sessions.open(token) : null;
          if (!session) return false;
          caller = `user:${session.viewer.id}`;
          // Revoked later (logOut, a new password, revokeUserTokens): the socket closes with 4403.
          const socket = ctx.extra.socket;
          const unwatch = services.sessions.watch(session.claims, () =>
            socket.close(4403, "Token revoked: sign in again"),
          );
          socket.once("close", unwatch);
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
  return {
    /** Closes every socket with 1001 (going away) and ends their operations. */
    close: async () => {
      for (const client of wss.clients) client.close(1001, "Server shutting down");
      await wsServer.dispose();
    },
  };
}
