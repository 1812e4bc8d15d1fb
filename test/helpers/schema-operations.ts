// Operations generated from the printed schema, for the tests that try every field of it (the
// authorization matrices): a field's arguments filled with probe values, and a selection of its
// result's leaf fields. New operations are covered without editing the tests.
import {
  type GraphQLField,
  type GraphQLInputType,
  type GraphQLOutputType,
  type GraphQLSchema,
  getNamedType,
  isLeafType,
  isNonNullType,
  isObjectType,
} from "graphql";
import { sampleValue } from "./schema-values.ts";

export type OperationKind = "query" | "mutation" | "subscription";
export type SchemaField = GraphQLField<unknown, unknown>;
export type Operation = { query: string; variables: Record<string, unknown> };

/** Every field of the schema's root type for `kind`. */
export function rootFields(schema: GraphQLSchema, kind: OperationKind): SchemaField[] {
  const type =
    kind === "query"
      ? schema.getQueryType()
      : kind === "mutation"
        ? schema.getMutationType()
        : schema.getSubscriptionType();
  return Object.values(type?.getFields() ?? {});
}

export const isIdType = (type: GraphQLInputType) => getNamedType(type).name === "ID";

/** A value for an argument: every ID- or String-typed value is `text`; required input fields only. */
export function probeValue(type: GraphQLInputType, text: string): unknown {
  const byScalar: Record<string, unknown> = {
    ID: text,
    String: text,
    Int: 1,
    Float: 1,
    Boolean: true,
    // Far enough ahead that nothing a probe schedules fires while the tests run.
    DateTime: new Date(Date.now() + 3_600_000).toISOString(),
  };
  return sampleValue(type, {
    scalar: (name) => (name in byScalar ? byScalar[name] : {}), // JSON and any scalar added later
    includeField: (f) => isNonNullType(f.type) || isIdType(f.type),
  });
}

/** Leaf fields (without required arguments) of an output type, one level deep, plus __typename. */
export function selection(type: GraphQLOutputType): string {
  const named = getNamedType(type);
  if (isLeafType(named)) return "";
  if (!isObjectType(named)) return " { __typename }";
  const leaves = Object.values(named.getFields())
    .filter((f) => isLeafType(getNamedType(f.type)) && f.args.every((arg) => !isNonNullType(arg.type)))
    .map((f) => f.name);
  return ` { __typename ${leaves.join(" ")} }`;
}

/** The operation `name` calling `field` with exactly the arguments in `variables`. */
export function buildOperation(
  kind: OperationKind,
  field: SchemaField,
  variables: Record<string, unknown>,
  name: string,
): Operation {
  const args = field.args.filter((arg) => arg.name in variables);
  const defs = args.map((arg) => `$${arg.name}: ${String(arg.type)}`).join(", ");
  const call = args.length ? `(${args.map((arg) => `${arg.name}: $${arg.name}`).join(", ")})` : "";
  const query = `${kind} ${name}${defs ? `(${defs})` : ""} { ${field.name}${call}${selection(field.type)} }`;
  return { query, variables };
}

/** The probe: required arguments and every ID argument, all `id` ("": required arguments only). */
export function probeOperation(kind: OperationKind, field: SchemaField, id: string, name: string): Operation {
  const args = field.args.filter((arg) => isNonNullType(arg.type) || (id !== "" && isIdType(arg.type)));
  return buildOperation(
    kind,
    field,
    Object.fromEntries(args.map((arg) => [arg.name, probeValue(arg.type, id)])),
    name,
  );
}
