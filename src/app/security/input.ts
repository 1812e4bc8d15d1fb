import { type DocumentNode, Kind, visit } from "graphql";
import type { Plugin } from "graphql-yoga";
import { codedError } from "../../core/errors.ts";

/**
 * NUL characters (PostgreSQL text cannot store them, so they fail deep in a query) and unpaired
 * UTF-16 surrogates (not encodable as UTF-8: silently altered on the way to the database).
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding NUL is the point.
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** The name of the first variable (or "query" for a literal) holding an unstorable string. */
function findUnstorable(document: DocumentNode, variables: unknown): string | null {
  const walk = (value: unknown): boolean => {
    if (typeof value === "string") return UNSTORABLE.test(value);
    if (Array.isArray(value)) return value.some(walk);
    if (value && typeof value === "object") return Object.entries(value).some(([k, v]) => walk(k) || walk(v));
    return false;
  };
  if (variables && typeof variables === "object") {
    for (const [name, value] of Object.entries(variables)) if (walk(value)) return name;
  }
  let literal = literalChecked.get(document);
  if (literal === undefined) {
    literal = false;
    visit(document, {
      [Kind.STRING]: (node) => {
        if (UNSTORABLE.test(node.value)) literal = true;
      },
    });
    literalChecked.set(document, literal);
  }
  return literal ? "query" : null;
}

/** yoga reuses parsed documents (its parser cache), so each is walked once. */
const literalChecked = new WeakMap<DocumentNode, boolean>();

/**
 * Refuses, before any resolver runs, strings the database cannot store as given: one coded
 * BAD_USER_INPUT at the boundary instead of an "Unexpected error." (or a mangled row) later.
 */
export function useStorableStrings(): Plugin {
  const refuse = (field: string) => ({
    errors: [
      codedError("BAD_USER_INPUT", "Text must not contain NUL characters or unpaired surrogates", { field }),
    ],
  });
  return {
    onExecute({ args, setResultAndStopExecution }) {
      const field = findUnstorable(args.document, args.variableValues);
      if (field) setResultAndStopExecution(refuse(field));
    },
    onSubscribe({ args, setResultAndStopExecution }) {
      const field = findUnstorable(args.document, args.variableValues);
      if (field) setResultAndStopExecution(refuse(field));
    },
  };
}
