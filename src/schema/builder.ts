import SchemaBuilder from "@pothos/core";
import PrismaPlugin from "@pothos/plugin-prisma";
import RelayPlugin from "@pothos/plugin-relay";
import ScopeAuthPlugin from "@pothos/plugin-scope-auth";
import { forbidden, unauthenticated } from "../core/errors.ts";
import type PrismaTypes from "../generated/pothos-prisma-types.ts";
import { getDatamodel } from "../generated/pothos-prisma-types.ts";
import type { Context } from "./context.ts";

/** The Pothos builder: plugin options only; types live in src/schema/, one domain per file. */
export const builder = new SchemaBuilder<{
  Context: Context;
  PrismaTypes: PrismaTypes;
  AuthScopes: { viewer: boolean; system: boolean; admin: boolean };
  Scalars: {
    DateTime: { Input: Date; Output: Date };
    JSON: { Input: unknown; Output: unknown };
  };
  DefaultFieldNullability: false;
  DefaultInputFieldRequiredness: true;
  // Every connection reports totalCount (from counters, never a scan of history).
  Connection: { totalCount: number | (() => number | Promise<number>) };
}>({
  defaultFieldNullability: false,
  defaultInputFieldRequiredness: true,
  plugins: [ScopeAuthPlugin, PrismaPlugin, RelayPlugin],
  scopeAuth: {
    // Check scopes when a subscription starts, not only when each event resolves.
    authorizeOnSubscribe: true,
    authScopes: (ctx) => ({
      viewer: ctx.viewer !== null,
      system: ctx.isSystem,
      admin: ctx.isSystem || ctx.viewer?.role === "ADMIN",
    }),
    // Anonymous callers learn they must sign in; signed-in callers learn they lack the right.
    unauthorizedError: (_parent, ctx) =>
      ctx.viewer || ctx.isSystem
        ? forbidden("Not allowed for this caller")
        : unauthenticated(ctx.authError ?? undefined),
  },
  prisma: {
    // The client is per app instance (tests run several apps in one process), so read it from context.
    client: (ctx) => ctx.prisma,
    dmmf: getDatamodel(),
    exposeDescriptions: false,
    filterConnectionTotalCount: true,
    onUnusedQuery: process.env.NODE_ENV === "production" ? null : "error",
    defaultConnectionSize: 20,
  },
  relay: {
    // Ids are our own opaque strings (UUIDs), not Relay global ids: identical in queries,
    // arguments and events (DESIGN.md, "IDs").
    clientMutationId: "omit",
    cursorType: "String",
    nodesOnConnection: true,
  },
});

/** Page size cap for every connection field, from config (MAX_PAGE_SIZE). */
export const pageLimits = {
  defaultSize: 20,
  maxSize: (_args: unknown, ctx: Context) => ctx.config.maxPageSize,
};

/** The builder's resolved schema types, for helpers that take a field builder. */
export type BuilderTypes = typeof builder extends PothosSchemaTypes.SchemaBuilder<infer T> ? T : never;
