import { describe, expect, it } from "vitest";
import { readAccountEvent, stateChangeOf } from "#shared/domain/account-events.ts";
import { fixtureJson } from "../../fixtures.ts";

type Webhook = { entry: { id: string; time: number; changes: { field: string; value: any }[] }[] };

function stateOf(webhook: Webhook) {
  const entry = webhook.entry[0]!;
  const change = entry.changes[0]!;
  const event = readAccountEvent({
    id: "e1",
    field: change.field,
    wabaId: entry.id,
    phoneId: "106540352242922",
    time: entry.time,
    value: change.value,
  });
  return event && stateChangeOf(event);
}

describe("the latest account state the admin API and the app's numbers page show", () => {
  it("names the violation of an account_update, and when Meta stamped it", () => {
    const change = stateOf(fixtureJson("meta/webhook_account_update_account_violation.json"));
    expect(change).toEqual({
      subject: "waba",
      id: "102290129340398",
      patch: {
        status: {
          event: "ACCOUNT_VIOLATION",
          summary: "WhatsApp account violation: ADULT.",
          detail: "ADULT",
          at: "2025-03-31T20:11:43.000Z",
        },
      },
    });
  });

  it("names the ban state of a DISABLED_UPDATE", () => {
    const change = stateOf(fixtureJson("meta/webhook_account_update_disabled_update.json"));
    expect(change?.patch.status?.detail).toBe("REINSTATE");
  });

  it("puts the quality on the number, with the tier of the older payload form", () => {
    const change = stateOf(fixtureJson("meta/webhook_phone_number_quality_update.json"));
    expect(change?.subject).toBe("phone");
    expect(change?.id).toBe("106540352242922");
    expect(change?.patch.quality).toMatchObject({
      event: "THROUGHPUT_UPGRADE",
      detail: "limit TIER_UNLIMITED",
    });
  });

  it("prefers the daily limit of the newer form when Meta sends both", () => {
    // https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/phone_number_quality_update
    // (copy in LimaLb01/endpoint-flow, docs_whatsappflow/docs_apiwhatsapp/phone_number_quality_update.md):
    // the payload's syntax carries both; `current_limit` is to go in favour of the daily count.
    const webhook = fixtureJson<Webhook>("meta/webhook_phone_number_quality_update.json");
    webhook.entry[0]!.changes[0]!.value.max_daily_conversations_per_business = "2000";
    expect(stateOf(webhook)?.patch.quality?.detail).toBe("limit 2000");
  });
});
