import type { TypedDocumentString } from "../gql/graphql.ts";

export type GraphQLErrorShape = {
  message: string;
  path?: (string | number)[];
  extensions?: { code?: string; field?: string; [key: string]: unknown };
};

export type Result<T> = {
  data?: T | null;
  errors?: GraphQLErrorShape[];
  status: number;
  /** The response body as sent, for checks on what it contains anywhere (data, errors, extensions). */
  text: string;
};

export type Auth = { token?: string | undefined; apiKey?: string | undefined };

/** A plain HTTP GraphQL client (what Apollo/urql send over the wire), typed by codegen documents. */
export class Client {
  constructor(
    readonly url: string,
    readonly auth: Auth = {},
  ) {}

  as(auth: Auth) {
    return new Client(this.url, auth);
  }

  async raw<T, V>(doc: TypedDocumentString<T, V> | string, variables?: V): Promise<Result<T>> {
    const headers: Record<string, string> = {
      "content-type": "application/json",
      accept: "application/json",
    };
    if (this.auth.token) headers.authorization = `Bearer ${this.auth.token}`;
    if (this.auth.apiKey) headers["x-api-key"] = this.auth.apiKey;
    const res = await fetch(this.url, {
      method: "POST",
      headers,
      body: JSON.stringify({ query: doc.toString(), variables: variables ?? {} }),
    });
    const text = await res.text();
    const body = JSON.parse(text) as Pick<Result<T>, "data" | "errors">;
    return { ...body, status: res.status, text };
  }

  /** Runs an operation that must succeed; throws with the errors otherwise. */
  async ok<T, V>(
    doc: TypedDocumentString<T, V>,
    ...[variables]: V extends Record<string, never> ? [] | [V] : [V]
  ) {
    const result = await this.raw(doc, variables);
    if (result.errors?.length || !result.data) {
      throw new Error(`operation failed: ${JSON.stringify(result.errors ?? result)}`);
    }
    return result.data;
  }

  /** Runs an operation that must fail; returns the first error's code (and the error). */
  async fail<T, V>(doc: TypedDocumentString<T, V> | string, variables?: V) {
    const result = await this.raw(doc, variables);
    const error = result.errors?.[0];
    if (!error) throw new Error(`expected an error, got ${JSON.stringify(result.data)}`);
    return { code: error.extensions?.code, field: error.extensions?.field, error, result };
  }
}
