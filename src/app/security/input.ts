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
  // Without recursion: a JSON variable nested thousands of levels deep must reach the argument's
  // own check (a coded error naming it), not overflow the stack here.
  const walk = (root: unknown): boolean => {
    const stack: unknown[] = [root];
    while (stack.length > 0) {
      const value = stack.pop();
      if (typeof value === "string") {
        if (UNSTORABLE.test(value)) return true;
      } else if (Array.isArray(value)) {
        for (const item of value) stack.push(item);
      } else if (value && typeof value === "object") {
        for (const [k, v] of Object.entries(value)) stack.push(k, v);
      }
    }
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
