import { DateTimeResolver, JSONResolver } from "graphql-scalars";
import { builder } from "./builder.ts";

builder.addScalarType("DateTime", DateTimeResolver);
builder.addScalarType("JSON", JSONResolver);

builder.queryType({});
builder.mutationType({});
builder.subscriptionType({});

builder.globalConnectionField("totalCount", (t) =>
  t.int({
    resolve: (connection) =>
      typeof connection.totalCount === "function" ? connection.totalCount() : connection.totalCount,
  }),
);
