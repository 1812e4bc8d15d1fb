// Delivery preferences: the route notifications take out of the app, and the daily digest's hour.
import type { Actor } from "../../core/actor.ts";
import { badInput } from "../../core/errors.ts";
import type { Services } from "../../core/services.ts";
import type { DeliveryRoute } from "../../generated/prisma/client.ts";
import { DEFAULT_ROUTE } from "./delivery/routes.ts";
import { actingUser } from "./targets.ts";

export const DEFAULT_DIGEST_HOUR = 8;

export type Preferences = { userId: string; route: DeliveryRoute; digestHourUtc: number };

/** `notificationPreferences`: the viewer's (API key: `userId`'s), defaults until set. */
export async function getPreferences(
  services: Services,
  actor: Actor,
  input: { userId?: string | null | undefined },
): Promise<Preferences> {
  const userId = await actingUser(services, actor, input.userId);
  const row = await services.prisma.notificationPreference.findUnique({ where: { userId } });
  return row ?? { userId, route: DEFAULT_ROUTE, digestHourUtc: DEFAULT_DIGEST_HOUR };
}

/** `setNotificationPreferences`: applies to notifications sent from now on. */
export async function setPreferences(
  services: Services,
  actor: Actor,
  input: {
    route: DeliveryRoute;
    digestHourUtc?: number | null | undefined;
    userId?: string | null | undefined;
  },
): Promise<Preferences> {
  const hour = input.digestHourUtc;
  if (hour != null && (hour < 0 || hour > 23)) throw badInput("digestHourUtc", "digestHourUtc must be 0-23");
  const userId = await actingUser(services, actor, input.userId);
  return services.prisma.notificationPreference.upsert({
    where: { userId },
    create: { userId, route: input.route, digestHourUtc: hour ?? DEFAULT_DIGEST_HOUR },
    update: { route: input.route, ...(hour != null ? { digestHourUtc: hour } : {}) },
  });
}
