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
