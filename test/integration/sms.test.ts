import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fixtureJson } from "../fixtures.ts";
import { eventually } from "../support/stack.ts";
import { forOurNumber, PHONE_ID, startWorld, WABA_ID, type World } from "../support/world.ts";

const CODE = `waba_${PHONE_ID}`;
let world: World;
let handler: string;

beforeAll(async () => {
  world = await startWorld();
  world.meta.setTemplates(
    WABA_ID,
    fixtureJson<{ data: unknown[] }>("meta/message_templates_list_response.json").data,
  );
  handler = world.bitrix.portal(world.memberId).senders.get(CODE)?.HANDLER ?? "";
  expect(handler).toContain("/api/bitrix/sms/?h=");
});

afterAll(async () => {
  await world?.stop();
});

/** A CRM "Send SMS" (or robot) through our sender: Bitrix24 posts to the sender's handler URL. */
async function crmSends(messageTo: string, messageBody: string, url = handler) {
  const messageId = Math.random().toString(16).slice(2).padEnd(32, "0").slice(0, 32);
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: world.bitrix.messageserviceHandlerBody(world.memberId, {
      code: CODE,
      messageTo,
      messageBody,
      messageId,
    }),
  });
  return { res, messageId };
}

const statuses = () => world.bitrix.portal(world.memberId).smsStatuses;

describe("SMS provider", () => {
  it.each([
    ["hello_world+en_US", "+1 (650) 555-0001"],
    ["template-hello_world+en_US", "+16505550002"],
  ])("sends %s as a WhatsApp template and reports delivery with the same sender code", async (body, to) => {
    const { res, messageId } = await crmSends(to, body);
    expect(res.status).toBe(200);
    const digits = to.replace(/\D/g, "");
    const [sent] = await eventually(async () =>
      world.meta.messagesTo(digits).length ? world.meta.messagesTo(digits) : undefined,
    );
    expect(sent?.type).toBe("template");
    const status = forOurNumber(fixtureJson<any>("meta/webhook_status_sent.json"));
    Object.assign(status.entry[0].changes[0].value.statuses[0], {
      id: sent!.wamid,
      status: "delivered",
      recipient_id: digits,
    });
    await world.postWebhook(status);
    const update = await eventually(async () => statuses().find((s) => s.messageId === messageId));
    expect(update).toMatchObject({ code: CODE, status: "delivered" });
  });

  it("reports delivery once when Meta's read follows its delivered", async () => {
    const to = "+16505550004";
    const { messageId } = await crmSends(to, "hello_world+en_US");
    const [sent] = await eventually(async () =>
      world.meta.messagesTo("16505550004").length ? world.meta.messagesTo("16505550004") : undefined,
    );
    for (const status of ["delivered", "read"]) {
      const webhook = forOurNumber(fixtureJson<any>("meta/webhook_status_sent.json"));
      Object.assign(webhook.entry[0].changes[0].value.statuses[0], {
        id: sent!.wamid,
        status,
        recipient_id: "16505550004",
      });
      await world.postWebhook(webhook);
      await world.stack.settled();
    }
    expect(statuses().filter((s) => s.messageId === messageId)).toEqual([
      expect.objectContaining({ code: CODE, status: "delivered" }),
    ]);
  });

  it("reports failed, without calling Meta, for an unknown template", async () => {
    const before = world.meta.sentMessages.length;
    const { messageId } = await crmSends("+16505550003", "no_such_template+en_US");
    const update = await eventually(async () => statuses().find((s) => s.messageId === messageId));
    expect(update?.status).toBe("failed");
    expect(world.meta.sentMessages.length).toBe(before);
  });

  it("sends free text inside the customer's 24-hour window, and reports failed outside it", async () => {
    const inbound = forOurNumber(fixtureJson<any>("meta/webhook_text.json"));
    Object.assign(inbound.entry[0].changes[0].value.messages[0], {
      id: "wamid.sms-window",
      timestamp: String(Math.floor(Date.now() / 1000)),
    });
    await world.postWebhook(inbound);
    await eventually(async () =>
      world.bitrix.portal(world.memberId).messages.find((m) => m.message.id === "wamid.sms-window"),
    );
    await crmSends("+16505551234", "Your order has shipped");
    const [sent] = await eventually(async () =>
      world.meta.messagesTo("16505551234").length ? world.meta.messagesTo("16505551234") : undefined,
    );
    expect((sent!.body.text as any).body).toBe("Your order has shipped");
    const { messageId } = await crmSends("+16505550004", "Plain text to a stranger");
    expect((await eventually(async () => statuses().find((s) => s.messageId === messageId)))?.status).toBe(
      "failed",
    );
  });

  it("refuses a call without the handler URL's secret or for a sender that is not ours", async () => {
    expect(
      (await crmSends("+16505550005", "hello_world+en_US", handler.replace(/h=[^&]+/, "h=wrong"))).res.status,
    ).toBe(401);
    const res = await fetch(handler, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: world.bitrix.messageserviceHandlerBody(world.memberId, {
        code: "someone_else",
        messageTo: "+1",
        messageBody: "x",
      }),
    });
    expect(res.status).toBe(401);
  });
});
