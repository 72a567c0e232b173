import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CONNECTOR_ID } from "#shared/domain/bitrix-connector.ts";
import { fixtureJson } from "../fixtures.ts";
import { eventually } from "../support/stack.ts";
import { forOurNumber, PHONE_ID, startWorld, WABA_ID, type World } from "../support/world.ts";

let world: World;
let lineId: number;
let imMessageId = 70_000;

const templates = [
  ...fixtureJson<{ data: unknown[] }>("meta/message_templates_list_response.json").data,
  {
    name: "login_code",
    language: "en_US",
    status: "APPROVED",
    category: "AUTHENTICATION",
    components: [{ type: "BODY", text: "{{1}} is your verification code." }],
  },
];

beforeAll(async () => {
  world = await startWorld();
  world.meta.setTemplates(WABA_ID, templates);
  lineId = (await world.stack.admin("GET", `/api/admin/phones/${PHONE_ID}`)).body.line.id;
});

afterAll(async () => {
  await world?.stop();
});

const now = () => Math.floor(Date.now() / 1000);
const lineMessages = () => world.bitrix.portal(world.memberId).messages;
const delivered = (id: string) => eventually(async () => lineMessages().find((m) => m.message.id === id));

/** A documented webhook to our number: one message, given its own id, time and customer. */
function webhook(name: string, patch: (value: any, message: any) => void) {
  const payload = forOurNumber(fixtureJson<any>(`meta/${name}.json`));
  const value = payload.entry[0].changes[0].value;
  patch(value, (value.messages ?? value.message_echoes)[0]);
  return payload;
}

/** A customer's text from the recorded payloads: with the phone (and the BSUID if given), or the BSUID only. */
function customerText(who: { phone?: string; userId?: string }, id: string, at = now()) {
  return webhook(who.phone ? "webhook_text_bsuid_with_phone" : "webhook_text_bsuid_only", (value, m) => {
    const contact = value.contacts[0];
    if (who.phone) {
      contact.wa_id = who.phone;
      m.from = who.phone;
    }
    if (who.userId) {
      contact.user_id = who.userId;
      m.from_user_id = who.userId;
    } else {
      delete contact.user_id;
      delete m.from_user_id;
    }
    Object.assign(m, { id, timestamp: String(at) });
  });
}

/** pywa's system message (number or user-id change), as a new message. */
const systemChange = (name: string, id: string) =>
  webhook(name, (_value, m) => Object.assign(m, { id, timestamp: String(now()) }));

async function post(payload: unknown) {
  expect((await world.postWebhook(payload)).status).toBe(200);
}

/** The operator answers in the chat: ONIMCONNECTORMESSAGEADD for that chat id. */
async function operatorWrites(chat: string, text: string) {
  const results = await world.bitrix.deliverEvent(world.memberId, "ONIMCONNECTORMESSAGEADD", {
    CONNECTOR: CONNECTOR_ID,
    LINE: lineId,
    MESSAGES: [
      {
        im: { chat_id: 1900, message_id: ++imMessageId },
        message: { user_id: 27, text },
        chat: { id: chat },
      },
    ],
  });
  expect(results.map((r) => r.status)).toEqual([200]);
}

const notesIn = (chat: string) =>
  lineMessages().filter((m) => m.chat.id === chat && String(m.message.id).startsWith("note:"));

describe("one customer, one chat (phone and business-scoped user id)", () => {
  it("keeps a customer first seen with phone + BSUID, later with the BSUID only, in one Bitrix24 user and chat; replies go to the phone", async () => {
    await post(customerText({ phone: "919810000001", userId: "IN.1000000000000001" }, "wamid.cont-1"));
    await post(customerText({ userId: "IN.1000000000000001" }, "wamid.cont-2"));
    const first = await delivered("wamid.cont-1");
    const second = await delivered("wamid.cont-2");
    expect(first.user.id).toBe("wa:919810000001");
    expect(second.user.id).toBe(first.user.id);
    expect(second.chat.id).toBe(first.chat.id);
    expect(second.user.phone).toBe("+919810000001");
    // The username travels with the name (letters only, as Bitrix24 keeps them).
    expect(`${second.user.name} ${second.user.last_name}`).toContain("krish thakur");
    expect(lineMessages().some((m) => String(m.user.id).startsWith("wa:user:"))).toBe(false);

    await operatorWrites(String(first.chat.id), "Your order ships today");
    const [sent] = await eventually(async () => {
      const to = world.meta.messagesTo("919810000001");
      return to.length > 0 ? to : undefined;
    });
    // The Graph client sends the phone in E.164, as Meta asks ("+" and the country code).
    expect(sent?.body.to).toBe("+919810000001");
  });

  it("answers a customer Meta never gave a phone for with `recipient` (the BSUID), and refuses an authentication template with a note", async () => {
    await post(customerText({ userId: "IN.2000000000000002" }, "wamid.bsuid-only-1"));
    const m = await delivered("wamid.bsuid-only-1");
    expect(m.user.id).toBe("wa:user:IN.2000000000000002");
    expect(m.user.phone).toBeUndefined();

    await operatorWrites(String(m.chat.id), "Hello there");
    const [sent] = await eventually(async () => {
      const list = world.meta.messagesToRecipient("IN.2000000000000002");
      return list.length > 0 ? list : undefined;
    });
    expect(sent?.body.recipient).toBe("IN.2000000000000002");
    expect(sent?.body.to).toBeUndefined();

    const before = world.meta.sentMessages.length;
    await operatorWrites(String(m.chat.id), "template-login_code+en_US+123456");
    const [note] = await eventually(async () => {
      const notes = notesIn(String(m.chat.id));
      return notes.length > 0 ? notes : undefined;
    });
    expect(note?.message.text).toContain("authentication template needs the customer's phone number");
    expect(world.meta.sentMessages.length).toBe(before);
  });

  it("moves the alias on user_changed_number: the note goes into the customer's own chat and replies go to the new number", async () => {
    await post(customerText({ phone: "972987654321", userId: "IL.3000000000000003" }, "wamid.old-number"));
    const before = await delivered("wamid.old-number");
    await post(systemChange("webhook_system_user_changed_number", "wamid.number-changed"));
    const notice = await delivered("wamid.number-changed");
    expect(notice.chat.id).toBe(before.chat.id);
    expect(notice.user.id).toBe(before.user.id);
    expect(notice.message.text).toContain("972912345678");

    await operatorWrites(String(before.chat.id), "Noted your new number");
    await eventually(async () => (world.meta.messagesTo("972912345678").length > 0 ? true : undefined));
    expect(world.meta.messagesTo("972987654321")).toHaveLength(0);

    // A later message from the new number lands in the same chat.
    await post(customerText({ phone: "972912345678" }, "wamid.new-number"));
    expect((await delivered("wamid.new-number")).chat.id).toBe(before.chat.id);
  });

  it("moves the alias on user_changed_user_id, naming nobody but the previous id: the note goes into that customer's chat, never a shared one", async () => {
    await post(customerText({ userId: "CO.1234567890" }, "wamid.before-id-change"));
    const before = await delivered("wamid.before-id-change");
    await post(systemChange("webhook_system_user_changed_user_id", "wamid.id-changed"));
    const notice = await delivered("wamid.id-changed");
    expect(notice.chat.id).toBe(before.chat.id);
    expect(lineMessages().some((x) => String(x.chat.id).includes("unknown"))).toBe(false);

    await operatorWrites(String(before.chat.id), "Still here");
    await eventually(async () =>
      world.meta.messagesToRecipient("MX.0987654321").length > 0 ? true : undefined,
    );
    expect(world.meta.messagesToRecipient("CO.1234567890")).toHaveLength(0);
  });
});

describe("the alias is learned from statuses too", () => {
  it("a status naming the recipient's phone and BSUID joins a later BSUID-only message to the phone's chat", async () => {
    await post(customerText({ phone: "16505550077" }, "wamid.status-learn-1"));
    await delivered("wamid.status-learn-1");
    await operatorWrites("wa:16505550077", "We got your order");
    const [sent] = await eventually(async () => {
      const list = world.meta.messagesTo("16505550077");
      return list.length > 0 ? list : undefined;
    });
    // Meta's documented status webhook; since 2026 statuses carry recipient_user_id beside recipient_id
    // (Meta's business-scoped user ids page; https://dualhook.com/docs/contacts-bsuid-webhooks).
    const status = forOurNumber(fixtureJson<any>("meta/webhook_status_sent.json"));
    Object.assign(status.entry[0].changes[0].value.statuses[0], {
      id: sent!.wamid,
      status: "delivered",
      recipient_id: "16505550077",
      recipient_user_id: "US.7700000000000077",
    });
    await post(status);
    await eventually(async () =>
      world.bitrix.portal(world.memberId).deliveryStatuses.length > 0 ? true : undefined,
    );
    await post(customerText({ userId: "US.7700000000000077" }, "wamid.status-learn-2"));
    expect((await delivered("wamid.status-learn-2")).chat.id).toBe("wa:16505550077");
  });
});

describe("a notice that names nobody", () => {
  it("goes to the portal's administrators, never into a shared chat", async () => {
    const before = lineMessages().length;
    await post(
      webhook("webhook_system_user_changed_user_id", (_value, m) => {
        Object.assign(m, { id: "wamid.nobody", timestamp: String(now()) });
        delete m.system.previous_user_id;
      }),
    );
    const portal = world.bitrix.portal(world.memberId);
    const notice = await eventually(async () =>
      portal.notifications.find((n) => n.tag?.includes("wamid.nobody")),
    );
    expect(notice.userId).toBe(portal.userId);
    expect(notice.message).toContain("names no customer");
    expect(lineMessages().length).toBe(before);
  });
});

describe("the 24-hour window never goes backwards", () => {
  it("keeps the window open when an old webhook is redelivered after a fresh message", async () => {
    const customer = "16505550042";
    await post(customerText({ phone: customer }, "wamid.fresh"));
    await delivered("wamid.fresh");
    // Meta redelivers (or reorders) a message from two days ago.
    await post(customerText({ phone: customer }, "wamid.two-days-old", now() - 2 * 86_400));
    await delivered("wamid.two-days-old");
    await operatorWrites(`wa:${customer}`, "Free text inside the window");
    await eventually(async () => (world.meta.messagesTo(customer).length > 0 ? true : undefined));
    expect(notesIn(`wa:${customer}`)).toHaveLength(0);
  });
});
