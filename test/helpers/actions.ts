import { CreateGroupDocument, SendMessageDocument } from "../gql/graphql.ts";
import { type TestUser, uniqueName } from "./server.ts";

/** Common setup steps of the message tests, through the public API. */

export type SendVars = { to?: string; conversationId?: string; content: string; clientMessageId?: string };

export const send = async (user: TestUser, vars: SendVars) =>
  (await user.client.ok(SendMessageDocument, vars)).sendMessage;

/** A group owned by `owner` with `members`; returns its id. */
export async function createGroup(owner: TestUser, members: TestUser[]) {
  const { createGroup } = await owner.client.ok(CreateGroupDocument, {
    title: uniqueName("group"),
    memberIds: members.map((m) => m.id),
  });
  return createGroup.id;
}
