// Resolve once, deliver many (Hasura's multiplexing, for events). graphql-js executes a
// subscription's selection once per event per subscriber; with 1,000 subscribers in one group that
// is 1,000 executions, each with its own database reads, for one message. Here subscribers of one
// instance that receive the same event object (the instance's log reader hands every stream the
// same object) with the same document and variables, and in the same authorization class, share one
// execution and its result object.
//
// The authorization class: every stream only yields events its viewer may see (the visibility rule
// is applied by the stream, features/messaging/visibility.ts), so a selection made only of fields
// whose value follows from the event alone (marked with `sharedFields` on their type) is the same for
// every receiver: one class for all of them (split by API-key holders, who may see more). Any other
// field (an unread count, the sender-only clientMessageId, anything unmarked) makes the class the
// viewer: a user's devices still share, different users never do.
import { mapAsyncIterator } from "@graphql-tools/utils";
import {
  createSourceEventStream,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  execute,
  type GraphQLSchema,
  getNamedType,
  isObjectType,
  TypeInfo,
  visit,
  visitWithTypeInfo,
} from "graphql";
import type { Plugin } from "graphql-yoga";
import type { Context } from "./context.ts";

/** Type extension: the fields of the type whose value is the same for every viewer who may see it. */
export type SharedFieldsExtension = { sharedFields?: readonly string[] };

/** For a type's `extensions`: these fields depend only on the row, not on who asks. */
export const sharedFields = (...names: string[]): SharedFieldsExtension => ({ sharedFields: names });

/** True when every field the document selects is marked shared (introspection's __typename is). */
function selectsSharedFieldsOnly(schema: GraphQLSchema, document: DocumentNode): boolean {
  const info = new TypeInfo(schema);
  let shared = true;
  visit(
    document,
    visitWithTypeInfo(info, {
      Field(node) {
        if (node.name.value === "__typename") return;
        const parent = info.getParentType();
        const named = parent && getNamedType(parent);
        const allowed =
          named && isObjectType(named) ? (named.extensions as SharedFieldsExtension).sharedFields : undefined;
        // The subscription root field itself: its value is the event, the same for every receiver.
        const root = named === schema.getSubscriptionType();
        if (!root && !allowed?.includes(node.name.value)) shared = false;
      },
      // Fragments on interfaces or unions would need every possible type checked: not shared.
      InlineFragment(node) {
        if (node.typeCondition && !isObjectType(schema.getType(node.typeCondition.name.value)))
          shared = false;
      },
    }),
  );
  return shared;
}

/** Documents are parsed once and cached by yoga, so one object stands for one query text. */
const documentIds = new WeakMap<DocumentNode, number>();
let nextDocumentId = 0;
const sharedDocuments = new WeakMap<DocumentNode, boolean>();

function classOf(args: ExecutionArgs): string | null {
  const ctx = args.contextValue as Partial<Context> | undefined;
  const document = args.document;
  let shared = sharedDocuments.get(document);
  if (shared === undefined) {
    shared = selectsSharedFieldsOnly(args.schema, document);
    sharedDocuments.set(document, shared);
  }
  let id = documentIds.get(document);
  if (id === undefined) {
    id = nextDocumentId++;
    documentIds.set(document, id);
  }
  const viewer = ctx?.viewer?.id;
  const who = shared ? "all" : viewer ? `user:${viewer}` : null;
  if (who === null) return null; // nobody to share with
  const variables = args.variableValues ? JSON.stringify(args.variableValues) : "";
  return `${id}\u0000${args.operationName ?? ""}\u0000${variables}\u0000${who}\u0000${ctx?.isSystem === true}`;
}

/** Results per event object and class; dropped with the event once every stream is past it. */
const results = new WeakMap<object, Map<string, Promise<ExecutionResult>>>();

/** Told about each execution and each reuse (the instance's metrics). */
export type SharedExecutionStats = { executed(): void; shared(): void };

function sharedSubscribe(stats?: SharedExecutionStats) {
  return async (args: ExecutionArgs) => {
    const source = await createSourceEventStream(args);
    if (!(Symbol.asyncIterator in source)) return source; // the subscribe call's own errors
    const key = classOf(args);
    const run = (payload: unknown) => {
      stats?.executed();
      return execute({ ...args, rootValue: payload }) as Promise<ExecutionResult> | ExecutionResult;
    };
    return mapAsyncIterator(source, (payload: unknown) => {
      if (key === null || payload === null || typeof payload !== "object") return run(payload);
      let perClass = results.get(payload);
      if (!perClass) {
        perClass = new Map();
        results.set(payload, perClass);
      }
      const hit = perClass.get(key);
      if (hit) {
        stats?.shared();
        return hit;
      }
      const result = Promise.resolve(run(payload));
      perClass.set(key, result);
      return result;
    });
  };
}

/** The envelop plugin: subscriptions (graphql-ws and SSE) execute each event once per class. */
export function useSharedSubscriptionExecution(stats?: SharedExecutionStats): Plugin {
  return {
    onSubscribe({ setSubscribeFn }) {
      setSubscribeFn(sharedSubscribe(stats) as never);
    },
  };
}
