import { describe, expect, it } from "vitest";
import { messageGroupOf, splitWebhookIntoEvents } from "#shared/domain/split-webhook.ts";
import { metaWebhookEnvelope } from "#shared/schemas/meta-webhook.ts";
import { fixtureJson } from "../fixtures.ts";

const envelope = (name: string) => metaWebhookEnvelope.parse(fixtureJson(`meta/${name}.json`));

describe("splitWebhookIntoEvents", () => {
  it("turns the documented text webhook into one message event keyed on the wamid", () => {
    const [event, ...rest] = splitWebhookIntoEvents(envelope("webhook_text"), "app1");
    expect(rest).toHaveLength(0);
    expect(event).toMatchObject({
      id: "msg:wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
      kind: "message",
      appId: "app1",
      wabaId: "102290129340398",
      field: "messages",
      phoneNumberId: "106540352242922",
      customerId: "16505551234",
      timestamp: 1749416383,
    });
    expect(event?.value).toMatchObject({
      metadata: { phone_number_id: "106540352242922" },
      contacts: [{ profile: { name: "Sheena Nelson" }, wa_id: "16505551234" }],
      messages: [{ type: "text", text: { body: "Does it come in another color?" } }],
    });
    expect(messageGroupOf(event as NonNullable<typeof event>)).toBe("106540352242922:16505551234");
  });

  it("splits every entry × change × message and keeps each message with its own contact", () => {
    const base = fixtureJson<any>("meta/webhook_text.json");
    const change = base.entry[0].changes[0];
    const message = (id: string, from: string) => ({ ...change.value.messages[0], id, from });
    const changeFor = (n: number) => ({
      field: "messages",
      value: {
        ...change.value,
        contacts: [
          { profile: { name: `A${n}` }, wa_id: "111" },
          { profile: { name: `B${n}` }, wa_id: "222" },
        ],
        messages: [message(`wamid.${n}a`, "111"), message(`wamid.${n}b`, "222")],
      },
    });
    const batched = metaWebhookEnvelope.parse({
      object: "whatsapp_business_account",
      entry: [1, 2, 3].map((e) => ({
        id: `waba${e}`,
        changes: [changeFor(e * 10 + 1), changeFor(e * 10 + 2)],
      })),
    });
    const events = splitWebhookIntoEvents(batched, "app1");
    expect(events).toHaveLength(12);
    expect(new Set(events.map((e) => e.id)).size).toBe(12);
    const b = events.find((e) => e.id === "msg:wamid.21b");
    expect(b?.wabaId).toBe("waba2");
    expect((b!.value.contacts as any[])[0].profile.name).toBe("B21");
    expect(b?.customerId).toBe("222");
  });

  it("keys statuses on wamid + status, so sent/delivered/read are three events", () => {
    const [sent] = splitWebhookIntoEvents(envelope("webhook_status_sent"), "app1");
    expect(sent).toMatchObject({ kind: "status", customerId: "16505551234" });
    expect(sent?.id).toBe("status:wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=:sent");
  });

  it("makes call events with the customer as group member for both directions", () => {
    const [user] = splitWebhookIntoEvents(envelope("calls_connect_user_initiated"), "app1");
    expect(user).toMatchObject({ kind: "call", field: "calls", customerId: "16315553602" });
    expect(user?.id).toBe("call:wacid.ABGGFjFVU2AfAgo6V-Hc5eCgK5Gh:connect");
    const business = splitWebhookIntoEvents(envelope("calls_connect_business_initiated"), "app1")[0];
    const call = (business!.value.calls as any[])[0];
    expect(business?.customerId).toBe(call.to);
    const [ringing] = splitWebhookIntoEvents(envelope("calls_status_ringing_normalized"), "app1");
    expect(ringing?.kind).toBe("call");
    expect(ringing?.id).toMatch(/^callstatus:.*:ringing$/);
  });

  it.each([
    "webhook_template_status_approved",
    "webhook_template_status_rejected",
    "webhook_template_components_update",
    "webhook_account_update_account_deleted",
    "webhook_phone_number_quality_update",
    "webhook_errors_value_level",
  ])("keeps %s whole as one field event with a stable id", (name) => {
    const first = splitWebhookIntoEvents(envelope(name), "app1");
    const again = splitWebhookIntoEvents(envelope(name), "app1");
    expect(first).toHaveLength(1);
    expect(first[0]?.kind).toBe("field");
    expect(first[0]?.id).toBe(again[0]?.id);
    expect(first[0]?.value).toEqual(fixtureJson<any>(`meta/${name}.json`).entry[0].changes[0].value);
  });

  it.each([
    "webhook_image",
    "webhook_audio_voice",
    "webhook_video",
    "webhook_document",
    "webhook_sticker",
    "webhook_reaction",
    "webhook_button_template_quick_reply",
    "webhook_interactive_button_reply",
    "webhook_text_message_business_button",
  ])("turns %s into exactly one message event per message", (name) => {
    const raw = fixtureJson<any>(`meta/${name}.json`);
    const count = raw.entry.flatMap((e: any) => e.changes).flatMap((c: any) => c.value.messages ?? []).length;
    const events = splitWebhookIntoEvents(envelope(name), "app1");
    expect(events).toHaveLength(count);
    for (const e of events) expect(e.kind).toBe("message");
  });

  it("uses the business-scoped user id when Meta omits the phone number", () => {
    const events = splitWebhookIntoEvents(
      metaWebhookEnvelope.parse({
        object: "whatsapp_business_account",
        entry: [
          {
            id: "w",
            changes: [
              {
                field: "messages",
                value: {
                  metadata: { phone_number_id: "p" },
                  contacts: [{ profile: { name: "N" }, user_id: "US.123" }],
                  messages: [{ id: "wamid.x", from_user_id: "US.123", type: "text", text: { body: "hi" } }],
                },
              },
            ],
          },
        ],
      }),
      "app1",
    );
    expect(events[0]?.customerId).toBe("US.123");
    expect((events[0]!.value.contacts as any[])[0].user_id).toBe("US.123");
  });
});

describe("metaWebhookEnvelope", () => {
  it.each([
    ["another object", { object: "page", entry: [] }],
    ["no entries", { object: "whatsapp_business_account", entry: [] }],
    ["entry without changes", { object: "whatsapp_business_account", entry: [{ id: "1" }] }],
    ["a list", []],
  ])("rejects %s", (_name, body) => {
    expect(metaWebhookEnvelope.safeParse(body).success).toBe(false);
  });
});
