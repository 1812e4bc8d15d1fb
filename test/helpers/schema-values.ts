// Values for any argument type of the printed schema, for the tests generated from it (the
// authorization matrices, the fuzz test's warm-up): they walk the schema, so new operations are
// covered without editing the tests.
import {
  type GraphQLInputField,
  type GraphQLInputType,
  isEnumType,
  isInputObjectType,
  isListType,
  isNonNullType,
  isScalarType,
} from "graphql";

export type SampleOptions = {
  /** The value of a scalar, by its type name (ID, String, Int, DateTime, JSON ...). */
  scalar: (name: string) => unknown;
  /** Which fields of an input object to fill; by default the required ones. */
  includeField?: (field: GraphQLInputField) => boolean;
};

/** A well-formed value of `type`: lists of one, the first enum value, scalars from `scalar`. */
export function sampleValue(type: GraphQLInputType, options: SampleOptions): unknown {
  if (isNonNullType(type)) return sampleValue(type.ofType, options);
  if (isListType(type)) return [sampleValue(type.ofType, options)];
  if (isEnumType(type)) return type.getValues()[0]?.value;
  if (isInputObjectType(type)) {
    const include = options.includeField ?? ((f: GraphQLInputField) => isNonNullType(f.type));
    return Object.fromEntries(
      Object.values(type.getFields())
        .filter(include)
        .map((f) => [f.name, sampleValue(f.type, options)]),
    );
  }
  if (isScalarType(type)) return options.scalar(type.name);
  throw new Error(`no sample for ${String(type)}`);
}

/**
 * Operations that can end a session (the caller's own, or the named user's): the generated tests
 * run them after every other operation, so that those still run signed in, and sign in again after.
 */
export const SESSION_ENDING: ReadonlySet<string> = new Set(["logOut", "changePassword", "revokeUserTokens"]);

/** `fields` with the session-ending operations moved to the end. */
export const sessionEndingLast = <T extends { name: string }>(fields: readonly T[]): T[] => [
  ...fields.filter((f) => !SESSION_ENDING.has(f.name)),
  ...fields.filter((f) => SESSION_ENDING.has(f.name)),
];
