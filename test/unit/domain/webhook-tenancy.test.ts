import { describe, expect, it } from "vitest";
import { idsNamedBy, keepOwnParts } from "#shared/domain/webhook-tenancy.ts";
import type { MetaWebhookEnvelope } from "#shared/schemas/meta-webhook.ts";
import { fixtureJson } from "../../fixtures.ts";

const text = fixtureJson<MetaWebhookEnvelope>("meta/webhook_text.json");
const template = fixtureJson<MetaWebhookEnvelope>("meta/webhook_template_status_approved.json");
const WABA = "102290129340398";
const PHONE = "106540352242922";

/** The documented text webhook with its entry and number renamed. */
function textFor(wabaId: string, phoneId: string): MetaWebhookEnvelope["entry"][number] {
  const entry = structuredClone(text.entry[0]!);
  entry.id = wabaId;
  (entry.changes[0]!.value.metadata as { phone_number_id: string }).phone_number_id = phoneId;
  return entry;
}

const facts = {
  appOfWaba: new Map([
    [WABA, "app-a"],
    ["waba-b", "app-b"],
  ]),
  wabaOfPhone: new Map([
    [PHONE, WABA],
    ["phone-b", "waba-b"],
  ]),
};

describe("keepOwnParts", () => {
  it("keeps a webhook whose WABA and number are the signing app's, unchanged", () => {
    const kept = keepOwnParts(text, "app-a", facts);
    expect(kept.refused).toEqual([]);
    expect(kept.envelope).toEqual(text);
  });

  it("keeps account-level changes (no number) of the app's own WABA", () => {
    expect(keepOwnParts(template, "app-a", facts).envelope.entry).toHaveLength(1);
  });

  it("cuts out another app's WABA and an unknown one, keeping the rest of the request", () => {
    const envelope = {
      ...text,
      entry: [textFor(WABA, PHONE), textFor("waba-b", "phone-b"), textFor("waba-nobody", PHONE)],
    };
    const kept = keepOwnParts(envelope, "app-b", facts);
    expect(kept.envelope.entry.map((e) => e.id)).toEqual(["waba-b"]);
    expect(kept.refused).toEqual([
      { wabaId: WABA, reason: "waba-of-another-app" },
      { wabaId: "waba-nobody", reason: "unknown-waba" },
    ]);
  });

  it("cuts out a change naming another WABA's number or an unknown one under the app's own WABA", () => {
    const entry = textFor("waba-b", "phone-b");
    entry.changes = [
      ...textFor("waba-b", PHONE).changes,
      ...entry.changes,
      ...textFor("waba-b", "phone-nobody").changes,
    ];
    const kept = keepOwnParts({ ...text, entry: [entry] }, "app-b", facts);
    expect(kept.envelope.entry[0]?.changes).toHaveLength(1);
    expect(kept.refused.map((r) => [r.phoneNumberId, r.reason])).toEqual([
      [PHONE, "phone-of-another-waba"],
      ["phone-nobody", "unknown-phone"],
    ]);
  });

  it("drops an entry whose every change was refused", () => {
    const kept = keepOwnParts({ ...text, entry: [textFor("waba-b", PHONE)] }, "app-b", facts);
    expect(kept.envelope.entry).toEqual([]);
  });
});

describe("idsNamedBy", () => {
  it("lists each WABA and number once", () => {
    const envelope = { ...text, entry: [textFor(WABA, PHONE), textFor(WABA, PHONE), template.entry[0]!] };
    expect(idsNamedBy(envelope)).toEqual({ wabaIds: [WABA], phoneNumberIds: [PHONE] });
  });
});
