/** Meta's `messages` webhooks as the benchmarks post them (the shapes of test/fixtures/meta/webhook_*.json). */
export interface OurNumber {
  readonly wabaId: string;
  readonly phoneId: string;
  /** Digits, without the plus sign. */
  readonly displayPhone: string;
}

function messagesChange(number: OurNumber, value: Record<string, unknown>) {
  return {
    object: "whatsapp_business_account",
    entry: [
      {
        id: number.wabaId,
        changes: [
          {
            field: "messages",
            value: {
              messaging_product: "whatsapp",
              metadata: { display_phone_number: number.displayPhone, phone_number_id: number.phoneId },
              ...value,
            },
          },
        ],
      },
    ],
  };
}

/** One change holding every text given, each with its sender's contact. */
export function textsWebhook(number: OurNumber, messages: { id: string; from: string; body: string }[]) {
  return messagesChange(number, {
    contacts: messages.map((m) => ({ profile: { name: "Customer" }, wa_id: m.from })),
    messages: messages.map((m) => ({
      from: m.from,
      id: m.id,
      timestamp: String(Math.floor(Date.now() / 1000)),
      type: "text",
      text: { body: m.body },
    })),
  });
}

export function imageWebhook(number: OurNumber, m: { id: string; from: string; mediaId: string }) {
  return messagesChange(number, {
    contacts: [{ profile: { name: "Customer" }, wa_id: m.from }],
    messages: [
      {
        from: m.from,
        id: m.id,
        timestamp: String(Math.floor(Date.now() / 1000)),
        type: "image",
        image: { caption: "photo", mime_type: "image/jpeg", sha256: "x", id: m.mediaId },
      },
    ],
  });
}

export function statusWebhook(number: OurNumber, wamid: string, status: string, recipient: string) {
  return messagesChange(number, {
    statuses: [
      { id: wamid, status, timestamp: String(Math.floor(Date.now() / 1000)), recipient_id: recipient },
    ],
  });
}
