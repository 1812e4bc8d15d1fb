// Notification templates: `{{variable}}` placeholders in a title and a body, filled from a
// notification's `data`. Four are built in and seeded on first use (no migration needed).

import { badInput, conflict, forbidden, notFound } from "../../core/errors.ts";
import type { Services } from "../../core/services.ts";
import type { NotificationPriority, PrismaClient } from "../../generated/prisma/client.ts";

type TemplateText = { key: string; title: string; body: string; defaultPriority: NotificationPriority };

export const BUILT_IN_TEMPLATES: readonly TemplateText[] = [
  {
    key: "welcome",
    title: "Welcome, {{name}}!",
    body: "Hi {{name}}, your account is ready. Say hello to someone.",
    defaultPriority: "NORMAL",
  },
  {
    key: "order_shipped",
    title: "Order {{order_id}} has shipped",
    body: "Your order {{order_id}} is on its way with {{carrier}}. Tracking number: {{tracking_number}}.",
    defaultPriority: "NORMAL",
  },
  {
    key: "payment_failed",
    title: "Payment failed",
    body: "We could not charge {{amount}} for {{description}}. Please update your payment method.",
    defaultPriority: "HIGH",
  },
  {
    key: "security_alert",
    title: "Security alert: {{event}}",
    body: "We noticed {{event}} on your account from {{location}}. If this was not you, secure your account now.",
    defaultPriority: "URGENT",
  },
];

const KEY = /^[a-z][a-z0-9_.-]{1,63}$/;
const VARIABLE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MAX_TITLE = 200;
const MAX_BODY = 5_000;

// Seeded once per database client: an idempotent insert that leaves edited built-ins alone.
const seeded = new WeakMap<PrismaClient, Promise<void>>();

/** Makes sure the built-in templates exist (first use on this client; concurrent-safe). */
export function ensureBuiltInTemplates(prisma: PrismaClient): Promise<void> {
  let done = seeded.get(prisma);
  if (!done) {
    done = prisma.notificationTemplate
      .createMany({ data: BUILT_IN_TEMPLATES.map((t) => ({ ...t, builtIn: true })), skipDuplicates: true })
      .then(() => undefined);
    done.catch(() => seeded.delete(prisma));
    seeded.set(prisma, done);
  }
  return done;
}

/**
 * Splits a template into text and variable parts; rejects unbalanced braces and bad variable names
 * (BAD_USER_INPUT naming `field`), so a stored template always renders or names a missing variable.
 */
export function parseTemplate(text: string, field: string): { variables: string[] } {
  const variables: string[] = [];
  let i = 0;
  while (i < text.length) {
    const open = text.indexOf("{{", i);
    const close = text.indexOf("}}", i);
    if (open === -1) {
      if (close !== -1) throw badInput(field, `Unbalanced '}}' at position ${close} in ${field}`);
      break;
    }
    if (close !== -1 && close < open)
      throw badInput(field, `Unbalanced '}}' at position ${close} in ${field}`);
    const end = text.indexOf("}}", open + 2);
    if (end === -1) throw badInput(field, `Unclosed '{{' at position ${open} in ${field}`);
    const name = text.slice(open + 2, end).trim();
    if (!VARIABLE.test(name)) {
      throw badInput(field, `Bad variable name '${name}' in ${field}: use letters, digits and '_'`);
    }
    variables.push(name);
    i = end + 2;
  }
  return { variables };
}

/**
 * Fills `{{name}}` from data; a variable missing from data is BAD_USER_INPUT on `data`. Only data's
 * own properties count: `{{constructor}}` or `{{__proto__}}` must not render what every object
 * inherits.
 */
export function renderTemplate(text: string, data: Record<string, unknown>): string {
  return text.replace(/\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g, (_match, name: string) => {
    const value: unknown = Object.hasOwn(data, name) ? data[name] : undefined;
    if (value === undefined || value === null) {
      throw badInput("data", `Missing template variable '${name}' in data`);
    }
    return typeof value === "string" ? value : JSON.stringify(value);
  });
}

export async function findTemplate(ctx: Pick<Services, "prisma">, key: string) {
  await ensureBuiltInTemplates(ctx.prisma);
  return ctx.prisma.notificationTemplate.findUnique({ where: { key } });
}

/** A template by key for rendering; unknown -> BAD_USER_INPUT on `template`. */
export async function requireTemplate(ctx: Pick<Services, "prisma">, key: string) {
  const template = await findTemplate(ctx, key.trim());
  if (!template) throw badInput("template", `Unknown template '${key}'`);
  return template;
}

/** Validates a template's parts (create and update share the rules). */
export function cleanTemplate(input: { key: string; title: string; body: string }) {
  const key = input.key.trim();
  if (!KEY.test(key)) {
    throw badInput("key", "key must be 2-64 characters: lowercase letters, digits, '_', '.' or '-'");
  }
  const title = input.title.trim();
  const body = input.body.trim();
  if (!title || title.length > MAX_TITLE) throw badInput("title", `title must be 1-${MAX_TITLE} characters`);
  if (!body || body.length > MAX_BODY) throw badInput("body", `body must be 1-${MAX_BODY} characters`);
  parseTemplate(title, "title");
  parseTemplate(body, "body");
  return { key, title, body };
}

export async function createTemplate(
  ctx: Pick<Services, "prisma">,
  input: { key: string; title: string; body: string; defaultPriority: NotificationPriority },
) {
  const clean = cleanTemplate(input);
  await ensureBuiltInTemplates(ctx.prisma);
  const created = await ctx.prisma.notificationTemplate.createMany({
    data: [{ ...clean, defaultPriority: input.defaultPriority }],
    skipDuplicates: true,
  });
  if (created.count === 0) throw conflict(`A template with key '${clean.key}' exists already`);
  return clean.key;
}

/** Built-ins are editable (apps word them their own way) but cannot be deleted. */
export async function updateTemplate(
  ctx: Pick<Services, "prisma">,
  input: { key: string; title: string; body: string; defaultPriority?: NotificationPriority | null },
) {
  const clean = cleanTemplate(input);
  await ensureBuiltInTemplates(ctx.prisma);
  const updated = await ctx.prisma.notificationTemplate.updateMany({
    where: { key: clean.key },
    data: {
      title: clean.title,
      body: clean.body,
      ...(input.defaultPriority ? { defaultPriority: input.defaultPriority } : {}),
    },
  });
  if (updated.count === 0) throw notFound(`Template '${clean.key}'`);
  return clean.key;
}

export async function deleteTemplate(ctx: Pick<Services, "prisma">, key: string) {
  const template = await findTemplate(ctx, key.trim());
  if (!template) throw notFound(`Template '${key}'`);
  if (template.builtIn) throw forbidden(`Built-in template '${template.key}' cannot be deleted`);
  await ctx.prisma.notificationTemplate.deleteMany({ where: { key: template.key, builtIn: false } });
}
