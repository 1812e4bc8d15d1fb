// A GraphQL POST that keeps the response body as sent (text), for checks on what a response
// contains anywhere (data, errors, extensions), not just in the fields a typed document selects.
import type { TypedDocumentString } from "../gql/graphql.ts";
import type { GraphQLErrorShape } from "./client.ts";

export type RawResponse<T> = {
  status: number;
  text: string;
  data: T | null | undefined;
  errors: GraphQLErrorShape[] | undefined;
};

export async function rawRequest<T, V>(
  url: string,
  token: string | undefined,
  doc: TypedDocumentString<T, V> | string,
  variables?: V | Record<string, unknown>,
): Promise<RawResponse<T>> {
  const headers: Record<string, string> = { "content-type": "application/json", accept: "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(url, {
    method: "POST",
    headers,
    body: JSON.stringify({ query: doc.toString(), variables: variables ?? {} }),
  });
  const text = await res.text();
  const body = JSON.parse(text) as { data?: T | null; errors?: GraphQLErrorShape[] };
  return { status: res.status, text, data: body.data, errors: body.errors };
}
