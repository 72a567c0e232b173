import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CONNECTOR_ID } from "#shared/domain/bitrix-connector.ts";
import { fixtureJson } from "../fixtures.ts";
import { eventually } from "../support/stack.ts";
import { forOurNumber, PHONE_ID, startWorld, type World } from "../support/world.ts";

let world: World;
let lineId: number;

beforeAll(async () => {
  world = await startWorld();
  lineId = (await world.stack.admin("GET", `/api/admin/phones/${PHONE_ID}`)).body.line.id;
});

afterAll(async () => {
  await world?.stop();
});

const now = () => Math.floor(Date.now() / 1000);
const portal = () => world.bitrix.portal(world.memberId);
const delivered = (id: string) => eventually(async () => portal().messages.find((m) => m.message.id === id));

async function post(payload: unknown) {
  expect((await world.postWebhook(payload)).status).toBe(200);
}

function customerWrites(from: string, id: string, body = "Hi") {
  const payload = forOurNumber(fixtureJson<any>("meta/webhook_text_bsuid_with_phone.json"));
  const value = payload.entry[0].changes[0].value;
  value.contacts[0].wa_id = from;
  delete value.contacts[0].user_id;
  Object.assign(value.messages[0], { from, id, timestamp: String(now()), text: { body } });
  delete value.messages[0].from_user_id;
  return payload;
}

/** pywa's smb_message_echoes payload with the business's messages to `to`, one echo per text. */
function echoes(to: string, items: { id: string; text: string }[]) {
  const payload = forOurNumber(fixtureJson<any>("meta/webhook_smb_message_echoes.json"));
  const value = payload.entry[0].changes[0].value;
  value.contacts[0].wa_id = to;
  delete value.contacts[0].user_id;
  delete value.contacts[0].parent_user_id;
  const template = value.message_echoes[0];
  value.message_echoes = items.map((item, i) => {
    const { to_user_id: _u, to_parent_user_id: _p, ...rest } = template;
    return {
      ...rest,
      from: "15550783881",
      to,
      id: item.id,
      timestamp: String(now() + i),
      text: { body: item.text },
    };
  });
  return payload;
}

async function operatorWrites(chat: string, text: string, id: number) {
  const results = await world.bitrix.deliverEvent(world.memberId, "ONIMCONNECTORMESSAGEADD", {
    CONNECTOR: CONNECTOR_ID,
    LINE: lineId,
    MESSAGES: [{ im: { chat_id: 1902, message_id: id }, message: { user_id: 27, text }, chat: { id: chat } }],
  });
  expect(results.map((r) => r.status)).toEqual([200]);
}

describe("coexistence with the WhatsApp Business app", () => {
  it("shows smb_message_echoes on the business's side of the customer's chat, in order, once each", async () => {
    const customer = "16505550101";
    await post(customerWrites(customer, "wamid.coex-customer"));
    const first = await delivered("wamid.coex-customer");
    const chatId = (first.result?.session as { CHAT_ID?: string } | undefined)?.CHAT_ID;
    expect(chatId).toBeDefined();

    const batch = echoes(customer, [
      { id: "wamid.echo-1", text: "Hello from the shop" },
      { id: "wamid.echo-2", text: "Your parcel left today" },
      { id: "wamid.echo-3", text: "Tracking: 123" },
    ]);
    await post(batch);
    await post(batch); // Meta redelivers
    const shown = await eventually(async () =>
      portal().chatMessages.length >= 3 ? portal().chatMessages : undefined,
    );
    await new Promise((r) => setTimeout(r, 500));
    expect(portal().chatMessages).toHaveLength(3);
    expect(shown.map((m) => m.dialogId)).toEqual([`chat${chatId}`, `chat${chatId}`, `chat${chatId}`]);
    expect(shown.every((m) => m.system)).toBe(true);
    expect(shown.map((m) => m.text.replace(/^.*:\[\/b\] /, ""))).toEqual([
      "Hello from the shop",
      "Your parcel left today",
      "Tracking: 123",
    ]);
    // Nothing reached the customer's side of the chat or WhatsApp.
    expect(portal().messages.filter((m) => String(m.message.id).startsWith("echo:"))).toHaveLength(0);
    expect(world.meta.sentMessages).toHaveLength(0);
  });

  it("does not send the business's app message to WhatsApp again should Bitrix24 hand it back", async () => {
    const customer = "16505550101";
    const [shown] = portal().chatMessages;
    expect(shown).toBeDefined();
    await operatorWrites(`wa:${customer}`, shown!.text, 88_002);
    await new Promise((r) => setTimeout(r, 700));
    expect(world.meta.messagesTo(customer)).toHaveLength(0);
  });

  it("an echo does not open the 24-hour window", async () => {
    const customer = "16505550102";
    await post(echoes(customer, [{ id: "wamid.echo-first", text: "We have news for you" }]));
    // No chat yet: the echo opens it through the connector, marked as the business's.
    const opened = await delivered("echo:wamid.echo-first");
    expect(opened.message.text).toContain("Sent from the WhatsApp Business app");
    await operatorWrites(`wa:${customer}`, "free text", 88_001);
    const note = await eventually(async () =>
      portal().messages.find(
        (m) => m.chat.id === `wa:${customer}` && String(m.message.id).startsWith("note:"),
      ),
    );
    expect(note.message.text).toContain("24-hour");
    expect(world.meta.messagesTo(customer)).toHaveLength(0);
  });

  it("takes the names of the WhatsApp Business app's contact book (smb_app_state_sync)", async () => {
    const payload = forOurNumber(fixtureJson<any>("meta/webhook_smb_app_state_sync.json"));
    payload.entry[0].changes[0].value.state_sync[0].contact.phone_number = "16505550103";
    await post(payload);
    await new Promise((r) => setTimeout(r, 500));
    await post(customerWrites("16505550103", "wamid.after-sync"));
    const m = await delivered("wamid.after-sync");
    expect(m.user).toMatchObject({ name: "Pablo", last_name: "Morales" });
  });
});

describe("history import (coexistence)", () => {
  const historyOf = () => world.stack.admin("GET", `/api/admin/phones/${PHONE_ID}/history`);
  function historyWebhook(progress: number) {
    const payload = forOurNumber(fixtureJson<any>("meta/webhook_history.json"));
    payload.entry[0].changes[0].value.history[0].metadata.progress = progress;
    return payload;
  }
  const imported = () =>
    [
      ...portal().messages.filter((m) => String(m.message.text).includes("history")),
      ...portal().chatMessages.filter((m) => m.text.includes("Sent from the WhatsApp Business app")),
    ].length;

  it("imports nothing while the switch is off, but shows Meta's progress", async () => {
    const before = imported();
    await post(historyWebhook(10));
    const view = await eventually(async () => {
      const res = await historyOf();
      return res.body.progress === 10 ? res.body : undefined;
    });
    expect(view).toMatchObject({ enabled: false, imported: 0, phase: 0 });
    expect(imported()).toBe(before);
  });

  it("imports within the budget, resumes on the next chunk, and never repeats what is already in the open line", async () => {
    // The customer's "Thanks!" is already in the open line (live).
    const live = customerWrites(
      "16505551234",
      "wamid.N0FCNjMAHBgLMTY0NjcwNDM1OTUVAgARGBIyNDlBOEI5QUQ4NDc0",
      "Thanks!",
    );
    await post(live);
    await delivered("wamid.N0FCNjMAHBgLMTY0NjcwNDM1OTUVAgARGBIyNDlBOEI5QUQ4NDc0");
    const echoesBefore = portal().chatMessages.length;

    const put = await world.stack.admin("PUT", `/api/admin/phones/${PHONE_ID}/history`, {
      enabled: true,
      maxMessages: 2,
    });
    expect(put.status).toBe(200);
    await post(historyWebhook(55));
    await eventually(async () => ((await historyOf()).body.imported === 2 ? true : undefined));
    await new Promise((r) => setTimeout(r, 500));
    expect((await historyOf()).body.imported).toBe(2);

    await world.stack.admin("PUT", `/api/admin/phones/${PHONE_ID}/history`, {
      enabled: true,
      maxMessages: 100,
    });
    await post(historyWebhook(100));
    const thread2 = await eventually(async () =>
      portal().messages.find(
        (m) => m.chat.id === "wa:12125557890" && String(m.message.text).includes("THANKS30"),
      ),
    );
    expect(thread2.message.text).toContain("Sent from the WhatsApp Business app");
    await new Promise((r) => setTimeout(r, 500));
    // Three messages of the business, each once; the customer's message not twice.
    expect((await historyOf()).body).toMatchObject({ imported: 3, progress: 100 });
    const shop = portal().chatMessages.slice(echoesBefore);
    expect(shop.map((m) => m.text.includes("quest-3"))).toEqual([true, false]);
    expect(
      portal().messages.filter(
        (m) => m.message.id === "wamid.N0FCNjMAHBgLMTY0NjcwNDM1OTUVAgARGBIyNDlBOEI5QUQ4NDc0",
      ),
    ).toHaveLength(1);
  });

  it("keeps a thread's order across history chunks: the next chunk waits for the whole of the one before", async () => {
    const customer = "16505551888";
    await post(customerWrites(customer, "wamid.history-order-live", "Hello"));
    await delivered("wamid.history-order-live");
    await world.stack.admin("PUT", `/api/admin/phones/${PHONE_ID}/history`, {
      enabled: true,
      maxMessages: 100,
    });
    const text = (n: number) => ({
      from: customer,
      id: `wamid.history-order-${n}`,
      timestamp: String(1739230000 + n),
      type: "text",
      text: { body: `history order ${n}` },
      history_context: { status: "READ" },
    });
    // Two chunks of one thread in one webhook: one queue batch, one message group.
    const payload = forOurNumber(fixtureJson<any>("meta/webhook_history.json"));
    const change = payload.entry[0].changes[0];
    const chunk = (order: number, ns: number[]) => ({
      ...change,
      value: {
        ...change.value,
        history: [
          {
            metadata: { phase: 1, chunk_order: order, progress: 100 },
            threads: [{ id: customer, messages: ns.map(text) }],
          },
        ],
      },
    });
    payload.entry[0].changes = [chunk(1, [1, 2, 3]), chunk(2, [4])];
    await post(payload);
    const ours = await eventually(async () => {
      const got = portal().messages.filter((m) => String(m.message.id).startsWith("wamid.history-order-"));
      return got.length === 5 ? got : undefined;
    });
    expect(ours.map((m) => m.message.id)).toEqual([
      "wamid.history-order-live",
      ...[1, 2, 3, 4].map((n) => `wamid.history-order-${n}`),
    ]);
  });
});

describe("conversation routing", () => {
  it.each([
    ["the messages field's shape", (value: any) => value],
    [
      "wrapped in value.standby",
      (value: any) => {
        const { messages, contacts, ...rest } = value;
        return { ...rest, standby: { messages, contacts } };
      },
    ],
  ])("shows a message that arrives on standby (%s), marked as handled elsewhere", async (_label, shape) => {
    const id = `wamid.standby-${_label.length}`;
    const payload = customerWrites("16505550104", id, "Where is my order?");
    const change = payload.entry[0].changes[0];
    change.field = "standby";
    change.value = shape(change.value);
    await post(payload);
    const m = await delivered(id);
    expect(m.message.text).toContain("Handled by another app");
    expect(m.message.text).toContain("Where is my order?");
    expect(m.user.id).toBe("wa:16505550104");
  });

  it("records messaging_handovers and notes it in the customer's chat", async () => {
    const payload = forOurNumber(fixtureJson<any>("meta/webhook_messaging_handovers.json"));
    const value = payload.entry[0].changes[0].value;
    value.recipient.phone_number_id = PHONE_ID;
    value.sender.phone_number = "16505550104";
    await post(payload);
    const note = await eventually(async () =>
      portal().messages.find(
        (m) =>
          m.chat.id === "wa:16505550104" && String(m.message.text).includes("now answers the conversation"),
      ),
    );
    expect(note.message.text).toContain("meta business agent");
  });
});
