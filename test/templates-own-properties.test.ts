// Template variables are filled only from `data`'s own properties: `{{constructor}}`,
// `{{__proto__}}`, `{{toString}}` ... are missing variables (BAD_USER_INPUT on `data`) unless data
// carries them, for sendNotification and for broadcasts alike; given in data, they render as given.
import { randomBytes } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { CreateTemplateDocument, SendBroadcastDocument, SendNotificationDocument } from "./gql/graphql.ts";
import type { Client } from "./helpers/client.ts";
import { signUp, TEST_API_KEY, type TestUser, useServer } from "./helpers/server.ts";

const INHERITED = ["constructor", "__proto__", "toString", "hasOwnProperty", "valueOf", "isPrototypeOf"];

const server = useServer();
let system: Client;
let alice: TestUser;

beforeAll(async () => {
  system = server.client.as({ apiKey: TEST_API_KEY });
  alice = await signUp(server, "tpl");
});

/** A template whose title is `{{name}}` and body `<{{name}}>`. */
async function templateOf(name: string) {
  const key = `own-${name.toLowerCase().replace(/_/g, "")}-${randomBytes(3).toString("hex")}`;
  await system.ok(CreateTemplateDocument, { key, title: `Hi {{${name}}}`, body: `<{{ ${name} }}>` });
  return key;
}

describe("template variables come from data's own properties only", () => {
  it("sendNotification: an inherited name is a missing variable, not a rendered prototype member", async () => {
    for (const name of INHERITED) {
      const template = await templateOf(name);
      for (const data of [{}, { other: "x" }]) {
        const { code, field, error } = await system.fail(SendNotificationDocument, {
          userId: alice.id,
          template,
          data,
        });
        expect([name, code, field], error.message).toEqual([name, "BAD_USER_INPUT", "data"]);
        expect(error.message).toContain(`'${name}'`);
      }
    }
  });

  it("broadcast: the same rule, before anything is written", async () => {
    for (const name of INHERITED) {
      const template = await templateOf(name);
      const { code, field } = await system.fail(SendBroadcastDocument, {
        input: { template, data: {}, userIds: [alice.id] },
      });
      expect([name, code, field]).toEqual([name, "BAD_USER_INPUT", "data"]);
    }
  });

  it("given as own properties of data, the same names render their values", async () => {
    for (const name of INHERITED) {
      const template = await templateOf(name);
      // A computed key makes an own property even for __proto__; JSON carries it as one.
      const data = { [name]: `v-${name}` };
      const { sendNotification } = await system.ok(SendNotificationDocument, {
        userId: alice.id,
        template,
        data,
      });
      expect([sendNotification.title, sendNotification.body]).toEqual([`Hi v-${name}`, `<v-${name}>`]);
    }
  });
});
