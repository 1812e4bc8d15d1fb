// The realtime floor for bench/realtime.ts: the least a graphql-yoga + graphql-ws server can do to
// fan a sent message out to a group's subscribers. No database, no event log, no Redis: membership
// lives in memory, sendMessage publishes the message itself to the group's topic on yoga's in-memory
// createPubSub, and messageEvents merges the topics of the viewer's groups. The transport is wired
// exactly like src/app.ts (one yoga, graphql-ws on the same port and path through yoga.getEnveloped),
// so the difference between the two servers is what the real one does beyond moving bytes.
// Run as its own process (bench/server-process.ts); env PORT, HOST; prints "floor server ready at <url>".
//
// Auth is a stand-in: the bearer "token" is the user id (HTTP header, or graphql-ws connectionParams).
import { randomUUID } from "node:crypto";
import { setMaxListeners } from "node:events";
import { createServer } from "node:http";
import type { ExecutionArgs } from "graphql";
import { GraphQLError } from "graphql";
import { useServer } from "graphql-ws/use/ws";
import { createPubSub, createSchema, createYoga, type PubSubEventTarget, Repeater } from "graphql-yoga";
import { WebSocketServer } from "ws";

type FloorMessage = { id: string; conversationId: string; seq: number; content: string };
type FloorEvent = {
  kind: "CREATED";
  seq: number;
  cursor: string;
  conversationId: string;
  message: FloorMessage;
};
type FloorContext = { viewer: string | null };

type Topics = { conversation: [conversationId: string, event: FloorEvent] };
// Node warns past 10 listeners per event on an EventTarget; a group topic has one per member device.
const eventTarget = new EventTarget();
setMaxListeners(0, eventTarget);
const pubsub = createPubSub<Topics>({ eventTarget: eventTarget as PubSubEventTarget<Topics> });
/** conversation id -> member ids, and user id -> conversation ids. */
const members = new Map<string, Set<string>>();
const groupsOf = new Map<string, Set<string>>();
const lastSeq = new Map<string, number>();
let logPosition = 0;

const viewerOf = (ctx: FloorContext) => {
  if (!ctx.viewer) throw new GraphQLError("Sign in", { extensions: { code: "UNAUTHENTICATED" } });
  return ctx.viewer;
};

const schema = createSchema<FloorContext>({
  typeDefs: /* GraphQL */ `
    type Message { id: ID! conversationId: ID! seq: Int! content: String }
    enum MessageEventKind { CREATED }
    type MessageEvent { kind: MessageEventKind! conversationId: ID! seq: Int! cursor: String! message: Message! }
    type Query { ok: Boolean! }
    type Mutation {
      createGroup(id: ID!, memberIds: [ID!]!): ID!
      sendMessage(conversationId: ID!, content: String!): Message!
    }
    type Subscription { messageEvents: MessageEvent! }
  `,
  resolvers: {
    Query: { ok: () => true },
    Mutation: {
      createGroup: (_root: unknown, args: { id: string; memberIds: string[] }) => {
        members.set(args.id, new Set(args.memberIds));
        for (const userId of args.memberIds) {
          const set = groupsOf.get(userId) ?? new Set<string>();
          set.add(args.id);
          groupsOf.set(userId, set);
        }
        return args.id;
      },
      sendMessage: (_root: unknown, args: { conversationId: string; content: string }, ctx: FloorContext) => {
        const viewer = viewerOf(ctx);
        if (!members.get(args.conversationId)?.has(viewer))
          throw new GraphQLError("Conversation not found", { extensions: { code: "NOT_FOUND" } });
        const seq = (lastSeq.get(args.conversationId) ?? 0) + 1;
        lastSeq.set(args.conversationId, seq);
        const message = { id: randomUUID(), conversationId: args.conversationId, seq, content: args.content };
        logPosition += 1;
        pubsub.publish("conversation", args.conversationId, {
          kind: "CREATED",
          seq,
          cursor: String(logPosition),
          conversationId: args.conversationId,
          message,
        });
        return message;
      },
    },
    Subscription: {
      messageEvents: {
        subscribe: (_root: unknown, _args: unknown, ctx: FloorContext) => {
          const groups = [...(groupsOf.get(viewerOf(ctx)) ?? [])];
          return Repeater.merge(groups.map((id) => pubsub.subscribe("conversation", id)));
        },
        resolve: (event: FloorEvent) => event,
      },
    },
  },
});

const bearer = (value: unknown) =>
  typeof value === "string" ? (/^Bearer\s+(\S+)$/i.exec(value.trim())?.[1] ?? null) : null;

const yoga = createYoga<{ connectionParams?: Record<string, unknown> }, FloorContext>({
  schema,
  graphqlEndpoint: "/graphql",
  graphiql: false,
  landingPage: false,
  logging: "warn",
  context: (initial) => ({
    viewer: initial.connectionParams
      ? bearer(initial.connectionParams.authorization)
      : bearer(initial.request.headers.get("authorization")),
  }),
});

type Enveloped = { execute: (args: ExecutionArgs) => unknown; subscribe: (args: ExecutionArgs) => unknown };

const server = createServer(yoga);
const wss = new WebSocketServer({ server, path: yoga.graphqlEndpoint });
const wsServer = useServer<Record<string, unknown>>(
  {
    execute: (args) => (args.rootValue as Enveloped).execute(args) as never,
    subscribe: (args) => (args.rootValue as Enveloped).subscribe(args) as never,
    onSubscribe: async (ctx, _id, payload) => {
      const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
        ...ctx,
        req: ctx.extra.request,
        socket: ctx.extra.socket,
        params: payload,
        connectionParams: ctx.connectionParams ?? {},
      });
      const args: ExecutionArgs = {
        schema,
        operationName: payload.operationName ?? null,
        document: parse(payload.query),
        variableValues: payload.variables ?? null,
        contextValue: await contextFactory(),
        rootValue: { execute, subscribe } satisfies Enveloped,
      };
      const errors = validate(args.schema, args.document);
      return errors.length ? errors : args;
    },
  },
  wss,
);

const host = process.env.HOST ?? "127.0.0.1";
server.listen(Number(process.env.PORT ?? 0), host, () => {
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  console.log(`floor server ready at http://${host}:${port}/graphql`);
});

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.once(signal, () => {
    for (const client of wss.clients) client.close(1001, "Server shutting down");
    void Promise.resolve(wsServer.dispose()).finally(() => {
      server.closeAllConnections();
      server.close(() => process.exit(0));
    });
    setTimeout(() => process.exit(0), 5_000).unref();
  });
}
