import { builder } from "../../schema/builder.ts";
import { NotificationPriority } from "./notification.schema.ts";
import {
  createTemplate,
  deleteTemplate,
  ensureBuiltInTemplates,
  findTemplate,
  updateTemplate,
} from "./templates.ts";

export const NotificationTemplate = builder.prismaObject("NotificationTemplate", {
  description: "A notification template: `{{variable}}` placeholders filled from a notification's `data`.",
  fields: (t) => ({
    id: t.exposeID("id"),
    key: t.exposeString("key"),
    title: t.exposeString("title"),
    body: t.exposeString("body"),
    defaultPriority: t.expose("defaultPriority", { type: NotificationPriority }),
    builtIn: t.exposeBoolean("builtIn", { description: "Shipped with the server: editable, not deletable." }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    updatedAt: t.expose("updatedAt", { type: "DateTime" }),
  }),
});

// Templates are the host app's wording: managed with the API key only.
const SYSTEM = { system: true } as const;

builder.queryFields((t) => ({
  templates: t.prismaField({
    type: ["NotificationTemplate"],
    description: "Every template, by key (API key).",
    authScopes: SYSTEM,
    resolve: async (query, _root, _args, ctx) => {
      await ensureBuiltInTemplates(ctx.prisma);
      return ctx.prisma.notificationTemplate.findMany({ ...query, orderBy: { key: "asc" } });
    },
  }),
  template: t.prismaField({
    type: "NotificationTemplate",
    nullable: true,
    description: "One template by key (API key); null when there is none.",
    authScopes: SYSTEM,
    args: { key: t.arg.string() },
    resolve: async (query, _root, args, ctx) => {
      const found = await findTemplate(ctx, args.key.trim());
      return found ? ctx.prisma.notificationTemplate.findUnique({ ...query, where: { id: found.id } }) : null;
    },
  }),
}));

builder.mutationFields((t) => ({
  createTemplate: t.prismaField({
    type: "NotificationTemplate",
    description:
      "Creates a template (API key). Syntax is checked: balanced `{{ }}`, variable names [A-Za-z_][A-Za-z0-9_]*.",
    authScopes: SYSTEM,
    args: {
      key: t.arg.string(),
      title: t.arg.string(),
      body: t.arg.string(),
      defaultPriority: t.arg({ type: NotificationPriority, required: false }),
    },
    resolve: async (query, _root, args, ctx) => {
      const key = await createTemplate(ctx, { ...args, defaultPriority: args.defaultPriority ?? "NORMAL" });
      return ctx.prisma.notificationTemplate.findUniqueOrThrow({ ...query, where: { key } });
    },
  }),
  updateTemplate: t.prismaField({
    type: "NotificationTemplate",
    description:
      "Replaces a template's title and body, and its default priority when given (API key); built-ins too.",
    authScopes: SYSTEM,
    args: {
      key: t.arg.string(),
      title: t.arg.string(),
      body: t.arg.string(),
      defaultPriority: t.arg({ type: NotificationPriority, required: false }),
    },
    resolve: async (query, _root, args, ctx) => {
      const key = await updateTemplate(ctx, args);
      return ctx.prisma.notificationTemplate.findUniqueOrThrow({ ...query, where: { key } });
    },
  }),
  deleteTemplate: t.boolean({
    description: "Deletes a template (API key); built-ins cannot be deleted (FORBIDDEN).",
    authScopes: SYSTEM,
    args: { key: t.arg.string() },
    resolve: async (_root, args, ctx) => {
      await deleteTemplate(ctx, args.key);
      return true;
    },
  }),
}));
