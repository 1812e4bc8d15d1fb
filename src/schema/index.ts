import { lexicographicSortSchema } from "graphql";
import { builder } from "./builder.ts";
// Each feature's schema files register their types and fields on import.
import "./scalars.ts";
import "../features/users/user.schema.ts";
import "../features/messaging/conversation.schema.ts";
import "../features/messaging/message.schema.ts";
import "../features/messaging/receipt.schema.ts";
import "../features/messaging/member-list.schema.ts";
import "../features/messaging/scheduled-message.schema.ts";
import "../features/messaging/typing.schema.ts";
import "../features/notifications/notification.schema.ts";
import "../features/notifications/template.schema.ts";
import "../features/notifications/target.schema.ts";
import "../features/notifications/topic.schema.ts";
import "../features/notifications/preference.schema.ts";
import "../features/broadcasts/broadcast.schema.ts";
import "../features/webhooks/webhook.schema.ts";
import "../features/webhooks/event-log.schema.ts";

/** The executable schema, sorted so the printed schema.graphql is stable. */
export const schema = lexicographicSortSchema(builder.toSchema());
