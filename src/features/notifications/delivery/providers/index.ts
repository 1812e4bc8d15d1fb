// The providers of one app instance, built once from its configuration.
import type { Config } from "../../../../core/config.ts";
import { type EmailProvider, emailProvider } from "./email.ts";
import { httpProvider } from "./http.ts";
import type { Providers } from "./types.ts";

export type ConfiguredProviders = Providers & { EMAIL?: EmailProvider };

// Keyed by the config object: tests run several apps (each with its own receivers) in one process.
const cache = new WeakMap<Config, ConfiguredProviders>();

export function providersFor(config: Config): ConfiguredProviders {
  let providers = cache.get(config);
  if (!providers) {
    const { smtpUrl, emailFrom, smsHttpUrl, pushHttpUrl, providerTimeoutMs } = config.delivery;
    providers = {
      ...(smtpUrl ? { EMAIL: emailProvider(smtpUrl, emailFrom, providerTimeoutMs) } : {}),
      ...(smsHttpUrl ? { SMS: httpProvider(smsHttpUrl, providerTimeoutMs) } : {}),
      ...(pushHttpUrl ? { PUSH: httpProvider(pushHttpUrl, providerTimeoutMs) } : {}),
    };
    cache.set(config, providers);
  }
  return providers;
}
