import { builder } from "../../schema/builder.ts";
import { runDigest } from "./delivery/digest.ts";
import { getPreferences, type Preferences, setPreferences } from "./preferences.ts";
import { actingUser } from "./targets.ts";

export const DeliveryRoute = builder.enumType("DeliveryRoute", {
  description:
    "How notifications leave the app, by priority (LOW always stays in the app): IN_APP_ONLY; " +
    "IN_APP_AND_EMAIL (email for NORMAL+, push for HIGH+); IN_APP_EMAIL_AND_SMS (plus SMS for URGENT); " +
    "DAILY_DIGEST (NORMAL/HIGH email waits for one daily email; URGENT goes out at once).",
  values: ["IN_APP_ONLY", "IN_APP_AND_EMAIL", "IN_APP_EMAIL_AND_SMS", "DAILY_DIGEST"] as const,
});

const NotificationPreferences = builder.objectRef<Preferences>("NotificationPreferences").implement({
  fields: (t) => ({
    userId: t.exposeID("userId"),
    route: t.expose("route", { type: DeliveryRoute }),
    digestHourUtc: t.exposeInt("digestHourUtc", {
      description: "Hour (0-23, UTC) the daily digest goes out.",
    }),
  }),
});

builder.queryFields((t) => ({
  notificationPreferences: t.field({
    type: NotificationPreferences,
    description: "The viewer's delivery preferences (API key: those of `userId`); defaults until set.",
    authScopes: { viewer: true, system: true },
    args: { userId: t.arg.string({ required: false }) },
    resolve: (_root, args, ctx) => getPreferences(ctx, ctx.actor, args),
  }),
}));

builder.mutationFields((t) => ({
  setNotificationPreferences: t.field({
    type: NotificationPreferences,
    description:
      "Sets the route (and the digest hour, 0-23 UTC) for the viewer, or with the API key for `userId`. " +
      "Applies to notifications sent from now on.",
    authScopes: { viewer: true, system: true },
    args: {
      route: t.arg({ type: DeliveryRoute }),
      digestHourUtc: t.arg.int({ required: false }),
      userId: t.arg.string({ required: false }),
    },
    resolve: (_root, args, ctx) => setPreferences(ctx, ctx.actor, args),
  }),
  sendDigestNow: t.int({
    description:
      "Sends the waiting daily digest of the viewer (API key: of `userId`) now instead of at the digest " +
      "hour; returns how many notifications it carried.",
    authScopes: { viewer: true, system: true },
    args: { userId: t.arg.string({ required: false }) },
    resolve: async (_root, args, ctx) => {
      const userId = await actingUser(ctx, ctx.actor, args.userId);
      // Not the last attempt: a retryable failure leaves the deliveries waiting for the pending job.
      const result = await runDigest(ctx, userId, { retryCount: 0, retryLimit: 1 });
      return result.sent;
    },
  }),
}));
