import { lexicographicSortSchema } from "graphql";
import { builder } from "../builder.ts";
// Domain files register their types and fields on import.
import "./scalars.ts";
import "./user.ts";
import "./conversation.ts";
import "./message.ts";
import "./receipt.ts";
import "./notification.ts";
import "./template.ts";
import "./target.ts";
import "./topic.ts";
import "./preference.ts";
import "./schedule.ts";
import "./broadcast.ts";
import "./presence.ts";
import "./webhook.ts";
import "./event-log.ts";

/** The executable schema, sorted so the printed schema.graphql is stable. */
export const schema = lexicographicSortSchema(builder.toSchema());
