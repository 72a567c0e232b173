import { readdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseUntrustedJson } from "#shared/domain/untrusted-json.ts";
import { isMetaWebhookEnvelope, metaWebhookEnvelope } from "#shared/schemas/meta-webhook.ts";
import { fixtureJson, fixtureText } from "../fixtures.ts";

/** Meta's documented webhooks (test/fixtures/meta/webhook_*.json, each with its source beside it). */
const webhooks = readdirSync(new URL("../fixtures/meta/", import.meta.url))
  .filter((name) => name.startsWith("webhook_") && name.endsWith(".json"))
  .map((name) => `meta/${name}`);

type Json = Record<string, any>;
const base = () => fixtureJson<Json>("meta/webhook_text.json");

/** Ways a body can miss the envelope's shape (and a few it may have), each applied to a real webhook. */
const variants: [string, (w: Json) => unknown][] = [
  ["as documented", (w) => w],
  ["with keys Meta may add", (w) => ({ ...w, extra: 1, entry: [{ ...w.entry[0], extra: [1] }] })],
  ["another object", (w) => ({ ...w, object: "page" })],
  ["no object", ({ object: _o, ...w }) => w],
  ["no entry", ({ entry: _e, ...w }) => w],
  ["an empty entry", (w) => ({ ...w, entry: [] })],
  ["an entry that is not a list", (w) => ({ ...w, entry: w.entry[0] })],
  ["a null entry item", (w) => ({ ...w, entry: [null] })],
  ["an empty id", (w) => ({ ...w, entry: [{ ...w.entry[0], id: "" }] })],
  ["a numeric id", (w) => ({ ...w, entry: [{ ...w.entry[0], id: 1 }] })],
  ["a numeric time", (w) => ({ ...w, entry: [{ ...w.entry[0], time: 1749416383 }] })],
  ["a string time", (w) => ({ ...w, entry: [{ ...w.entry[0], time: "1749416383" }] })],
  ["a null time", (w) => ({ ...w, entry: [{ ...w.entry[0], time: null }] })],
  // JSON.parse reads a number too large for a double, such as 1e400, as Infinity.
  ["an infinite time", (w) => ({ ...w, entry: [{ ...w.entry[0], time: JSON.parse("1e400") }] })],
  ["no changes", (w) => ({ ...w, entry: [{ id: w.entry[0].id }] })],
  ["no change at all", (w) => ({ ...w, entry: [{ ...w.entry[0], changes: [] }] })],
  [
    "an empty field",
    (w) => ({ ...w, entry: [{ ...w.entry[0], changes: [{ ...w.entry[0].changes[0], field: "" }] }] }),
  ],
  [
    "a value that is a list",
    (w) => ({ ...w, entry: [{ ...w.entry[0], changes: [{ field: "messages", value: [] }] }] }),
  ],
  [
    "a null value",
    (w) => ({ ...w, entry: [{ ...w.entry[0], changes: [{ field: "messages", value: null }] }] }),
  ],
  ["no value", (w) => ({ ...w, entry: [{ ...w.entry[0], changes: [{ field: "messages" }] }] })],
  ["a list", (w) => [w]],
  ["null", () => null],
  ["a string", () => "whatsapp_business_account"],
];

describe("the webhook's envelope check without zod", () => {
  it.each(webhooks)("agrees with the zod schema on %s", (name) => {
    const body = parseUntrustedJson(fixtureText(name));
    expect(isMetaWebhookEnvelope(body)).toBe(metaWebhookEnvelope.safeParse(body).success);
  });

  it.each(variants)("agrees with the zod schema on a webhook with %s", (_name, change) => {
    const body = change(base());
    expect(isMetaWebhookEnvelope(body)).toBe(metaWebhookEnvelope.safeParse(body).success);
  });

  it("accepts Meta's documented webhooks and refuses what is not one", () => {
    // Three of the files are not whole webhooks: a fragment of one, and the signature and verification
    // vectors.
    const whole = webhooks.filter((name) => !/fragment|verification|signature/.test(name));
    expect(whole.length).toBeGreaterThan(10);
    expect(whole.filter((name) => !isMetaWebhookEnvelope(fixtureJson(name)))).toEqual([]);
    expect(isMetaWebhookEnvelope(fixtureJson("meta/webhook_fragment_interactive_nfm_reply.json"))).toBe(
      false,
    );
    expect(isMetaWebhookEnvelope({ ...base(), entry: [] })).toBe(false);
  });
});
