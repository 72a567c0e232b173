import { describe, expect, it } from "vitest";
import { splitWebhookIntoEvents } from "#shared/domain/split-webhook.ts";
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

  it("checks the number a change is split under: a standby's inner metadata, a handover's recipient", () => {
    // Signed by app B under its own WABA, each naming app A's number where the split reads it from.
    const standby = {
      field: "standby",
      value: {
        metadata: { phone_number_id: "phone-b" },
        standby: { metadata: { phone_number_id: PHONE }, messages: [{ id: "wamid.1", from: "1555" }] },
      },
    };
    const handover = {
      field: "messaging_handovers",
      value: {
        type: "control_passed",
        sender: { phone_number: "1555" },
        recipient: { phone_number_id: PHONE },
      },
    };
    const envelope = { ...text, entry: [{ id: "waba-b", changes: [standby, handover] }] };
    expect(idsNamedBy(envelope).phoneNumberIds).toContain(PHONE);
    const kept = keepOwnParts(envelope, "app-b", facts);
    expect(kept.refused.map((r) => [r.field, r.phoneNumberId, r.reason])).toEqual([
      ["standby", PHONE, "phone-of-another-waba"],
      ["messaging_handovers", PHONE, "phone-of-another-waba"],
    ]);
    expect(splitWebhookIntoEvents(kept.envelope, "app-b").map((e) => e.phoneNumberId)).toEqual([]);
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
