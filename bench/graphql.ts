// A minimal GraphQL-over-HTTP client: plain fetch (undici keeps connections alive), JSON in and out,
// what a browser or mobile client would send. Any GraphQL error aborts the benchmark, because a
// latency measured on an error answer would be meaningless.

type GraphQLErrorShape = { message: string; extensions?: { code?: string } };

export class GraphQLClient {
  constructor(
    readonly url: string,
    readonly token?: string,
  ) {}

  as(token: string): GraphQLClient {
    return new GraphQLClient(this.url, token);
  }

  async request<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
    const headers: Record<string, string> = {
      "content-type": "application/json",
      accept: "application/json",
    };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    const res = await fetch(this.url, {
      method: "POST",
      headers,
      body: JSON.stringify({ query, variables }),
    });
    const body = (await res.json()) as { data?: T | null; errors?: GraphQLErrorShape[] };
    if (body.errors?.length || !body.data) {
      throw new Error(`GraphQL request failed (HTTP ${res.status}): ${JSON.stringify(body.errors ?? body)}`);
    }
    return body.data;
  }
}

export type BenchUser = { id: string; username: string; token: string; client: GraphQLClient };

const SIGN_UP = `mutation SignUp($username: String!, $password: String!, $displayName: String!) {
  signUp(username: $username, password: $password, displayName: $displayName) { token user { id username } }
}`;

export async function signUp(anonymous: GraphQLClient, username: string): Promise<BenchUser> {
  const data = await anonymous.request<{ signUp: { token: string; user: { id: string; username: string } } }>(
    SIGN_UP,
    { username, password: "bench-password-123", displayName: `Bench ${username}` },
  );
  const { token, user } = data.signUp;
  return { id: user.id, username: user.username, token, client: anonymous.as(token) };
}

/**
 * Signs up many users a few at a time: each signUp is a ~50 ms scrypt hash on libuv's 4-thread pool,
 * so more parallelism only queues.
 */
export async function signUpMany(anonymous: GraphQLClient, usernames: string[]): Promise<BenchUser[]> {
  const users: BenchUser[] = [];
  for (let i = 0; i < usernames.length; i += 4) {
    users.push(...(await Promise.all(usernames.slice(i, i + 4).map((name) => signUp(anonymous, name)))));
  }
  return users;
}

const SEND_TO = `mutation SendTo($to: String!, $content: String!) {
  sendMessage(to: $to, content: $content) { id seq conversation { id } }
}`;
const SEND_IN = `mutation SendIn($conversationId: ID!, $content: String!) {
  sendMessage(conversationId: $conversationId, content: $content) { id seq }
}`;
const CREATE_GROUP = `mutation CreateGroup($title: String!, $memberIds: [String!]!) {
  createGroup(title: $title, memberIds: $memberIds) { id }
}`;

/** Sends a direct message (opening the conversation on first use); returns the conversation id. */
export async function sendTo(from: BenchUser, to: BenchUser, content: string): Promise<string> {
  const data = await from.client.request<{ sendMessage: { conversation: { id: string } } }>(SEND_TO, {
    to: to.id,
    content,
  });
  return data.sendMessage.conversation.id;
}

/** The exact mutation the throughput phase times: only id and seq come back, as a chat UI needs. */
export async function sendIn(from: BenchUser, conversationId: string, content: string): Promise<void> {
  await from.client.request(SEND_IN, { conversationId, content });
}

export async function createGroup(owner: BenchUser, title: string, members: BenchUser[]): Promise<string> {
  const data = await owner.client.request<{ createGroup: { id: string } }>(CREATE_GROUP, {
    title,
    memberIds: members.map((m) => m.id),
  });
  return data.createGroup.id;
}
