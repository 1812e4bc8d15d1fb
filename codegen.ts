import type { CodegenConfig } from "@graphql-codegen/cli";

// Typed operations for the tests (and examples): the `.graphql` documents under test/operations are
// checked against the printed schema.graphql, so a schema change breaks the build, not a user.
const config: CodegenConfig = {
  schema: "schema.graphql",
  documents: ["test/operations/**/*.graphql"],
  ignoreNoDocuments: false,
  // ESM imports with extensions, as tsconfig (NodeNext) requires.
  emitLegacyCommonJSImports: false,
  generates: {
    "test/gql/": {
      preset: "client",
      presetConfig: { fragmentMasking: false },
      config: {
        documentMode: "string",
        useTypeImports: true,
        enumsAsTypes: true,
        scalars: { DateTime: "string", JSON: "unknown" },
        strictScalars: true,
      },
    },
  },
};

export default config;
