import { EnvelopArmor } from "@escape.tech/graphql-armor";
import { useCSRFPrevention } from "@graphql-yoga/plugin-csrf-prevention";
import { useDisableIntrospection } from "@graphql-yoga/plugin-disable-introspection";
import { GraphQLError, type ValidationContext } from "graphql";
import { createGraphQLError, type Plugin } from "graphql-yoga";
import type { Config } from "../../core/config.ts";
import { useStorableStrings } from "./input.ts";

/**
 * Headers that prove a request went through a CORS preflight (a browser cannot add them to a
 * cross-site "simple" request): the names yoga's and Apollo's CSRF prevention accept, plus our own
 * credentials headers.
 */
export const CSRF_HEADERS = [
  "x-graphql-yoga-csrf",
  "graphql-require-preflight",
  "apollo-require-preflight",
  "x-apollo-operation-name",
  "authorization",
  "x-api-key",
];

/**
 * yoga's CSRF prevention plugin (a request a browser could send cross-site without a preflight, a
 * GET or a POST with a "simple" content type, must carry one of CSRF_HEADERS), with its refusal
 * re-thrown as a coded error: the plugin's own error has no code, and every error we answer has one.
 */
export function useCodedCSRFPrevention(): Plugin {
  const plugin = useCSRFPrevention({ requestHeaders: CSRF_HEADERS });
  return {
    onRequestParse(payload) {
      try {
        return plugin.onRequestParse?.(payload);
      } catch {
        throw createGraphQLError(
          `Request refused (CSRF prevention): send it as a JSON POST, or add one of the headers ${CSRF_HEADERS.slice(0, 3).join(", ")}`,
          { extensions: { code: "BAD_USER_INPUT", reason: "CSRF", http: { status: 403 } } },
        );
      }
    },
  };
}

/**
 * The request-shape limits (GraphQL Armor): depth, aliases, cost, tokens and directives, each from
 * config, and "Did you mean ...?" suggestions hidden outside development (they map the schema for a
 * caller even with introspection off). Limits are named in the error so clients can adapt.
 */
export function securityPlugins(config: Config): Plugin[] {
  const h = config.hardening;
  // Report a refusal as an ordinary validation error (HTTP 400, GRAPHQL_VALIDATION_FAILED) rather
  // than throwing, which yoga would answer as an uncoded error.
  const asValidationError = {
    propagateOnRejection: false,
    onReject: [
      (context: ValidationContext | null, error: GraphQLError) =>
        context?.reportError(new GraphQLError(error.message.replace(/^Syntax Error: /, ""))),
    ],
  };
  const armor = new EnvelopArmor({
    maxDepth: { n: h.maxDepth, flattenFragments: true, ...asValidationError },
    maxAliases: { n: h.maxAliases, ...asValidationError },
    costLimit: { maxCost: h.maxCost, ...asValidationError },
    maxTokens: { n: h.maxTokens },
    maxDirectives: { n: h.maxDirectives, ...asValidationError },
    blockFieldSuggestion: { enabled: config.env !== "development" },
  });
  const plugins: Plugin[] = [
    ...(armor.protect().plugins as Plugin[]),
    useCodedCSRFPrevention(),
    useStorableStrings(),
  ];
  if (!h.introspection) plugins.push(useDisableIntrospection());
  return plugins;
}
