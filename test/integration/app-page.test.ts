import type { Browser, Frame, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Bx24FrameFake, startBx24FrameFake } from "../fakes/bx24-frame.ts";
import type { RecordedRequest } from "../fakes/http-fake.ts";
import { fixtureJson } from "../fixtures.ts";
import { launchBrowser, openInFrame, screenshot } from "../support/browser.ts";
import { eventually } from "../support/stack.ts";
import { SHIPPING_NOTICE, shippingNoticeSent } from "../support/templates.ts";
import {
  CLIENT_ID,
  CLIENT_SECRET,
  forOurNumber,
  PHONE,
  PHONE_ID,
  startWorld,
  WABA_ID,
  type World,
} from "../support/world.ts";

let world: World;
let frameLib: Bx24FrameFake;
let browser: Browser;
let page: Page;
/** A second portal with a number of its own: its administrator must never see or change ours. */
let otherMemberId: string;
const OTHER_PHONE_ID = "106540352249999";
const OTHER_PHONE = "+15550789999";

const appUrl = () => `${world.stack.url}/api/bitrix/app/`;
/** The frame fields Bitrix24 posts when a user opens the app (the install page's fields, PLACEMENT=DEFAULT). */
const frameFields = (memberId: string, overrides: Record<string, string> = {}) =>
  new URLSearchParams(world.bitrix.installPageBody(memberId, overrides));
const postFrame = (fields: URLSearchParams) =>
  fetch(appUrl(), {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: fields,
  });
const isSettings = (req: RecordedRequest) => req.path.endsWith("/settings");
const settingsRequests = () => world.meta.requests.filter(isSettings);
/** The session the page's forms carry. */
const sessionOf = (html: string) => html.match(/name="session" value="([^"]+)"/)?.[1] ?? "";
const saveForm = (phoneId: string, fields: Record<string, string>, accept = "application/json") =>
  fetch(`${world.stack.url}/api/bitrix/app/phones/${phoneId}/calling`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", accept },
    body: new URLSearchParams(fields),
  });

beforeAll(async () => {
  frameLib = await startBx24FrameFake();
  world = await startWorld({ BITRIX_FRAME_SCRIPT_URL: frameLib.scriptUrl });
  otherMemberId = world.bitrix.addPortal({
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    installed: true,
  }).memberId;
  const install = await fetch(`${world.stack.url}/api/bitrix/`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: world.bitrix.installEventBody(otherMemberId),
  });
  expect(install.status).toBe(200);
  const other = await world.stack.admin("POST", "/api/admin/phones", {
    phone: OTHER_PHONE,
    phoneId: OTHER_PHONE_ID,
    wabaId: WABA_ID,
    memberId: otherMemberId,
  });
  expect(other.status).toBe(201);
  browser = await launchBrowser();
  page = await browser.newPage({ viewport: { width: 1000, height: 900 } });
});

afterAll(async () => {
  await browser?.close();
  await world?.stop();
  await frameLib?.close();
});

describe("the app's page in Bitrix24 (handler path)", () => {
  it("is the handler URL the admin API tells admins to paste", async () => {
    const apps = await world.stack.admin("GET", "/api/admin/bitrix-apps");
    expect(apps.body.items[0].handlerUrl).toBe(appUrl());
  });

  it("answers a frame whose token the OAuth server refuses with 401 and shows nothing of the portal", async () => {
    const res = await postFrame(frameFields(world.memberId, { AUTH_ID: "not-a-token-of-this-portal" }));
    expect(res.status).toBe(401);
    const html = await res.text();
    expect(html).not.toContain(PHONE);
    expect(html).not.toContain("separator_");
    expect(html).not.toContain('name="session"');
    expect(world.bitrix.requestsTo("/rest/app.info").length).toBeGreaterThan(0);
  });

  it("refuses a portal user who is not an administrator (user.admin false)", async () => {
    world.bitrix.portal(world.memberId).admin = false;
    try {
      const res = await postFrame(frameFields(world.memberId));
      expect(res.status).toBe(403);
      const html = await res.text();
      expect(html).toContain("Only a Bitrix24 administrator");
      expect(html).not.toContain(PHONE);
      expect(html).not.toContain('name="session"');
    } finally {
      world.bitrix.portal(world.memberId).admin = true;
    }
  });

  it("lists only this portal's numbers, server-rendered with each number's settings form", async () => {
    const res = await postFrame(frameFields(world.memberId));
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    const html = await res.text();
    expect(html).toContain(PHONE);
    expect(html).toContain("Main"); // the WABA's name
    expect(html).toContain(`separator_${PHONE.slice(1)}`);
    expect(html).toContain("active");
    expect(html).toContain(`waba_${PHONE_ID}`);
    expect(html).toContain(`action="/api/bitrix/app/phones/${PHONE_ID}/calling"`);
    expect(html).toMatch(/name="port" value="5061"/);
    expect(html).toContain("data-error-field>None: not set from here yet.</output>");
    expect(html).not.toContain(OTHER_PHONE);
    expect(html).not.toContain(OTHER_PHONE_ID);

    const other = await (await postFrame(frameFields(otherMemberId))).text();
    expect(other).toContain(OTHER_PHONE);
    expect(other).not.toContain(PHONE);
  });

  it("shows Meta's latest account and quality reports of the number; an older report does not replace a newer one", async () => {
    const quality = forOurNumber(fixtureJson<any>("meta/webhook_phone_number_quality_update.json"));
    const account = forOurNumber(fixtureJson<any>("meta/webhook_account_update_account_violation.json"));
    const olderQuality = structuredClone(quality);
    olderQuality.entry[0].time -= 3600;
    olderQuality.entry[0].changes[0].value = { ...olderQuality.entry[0].changes[0].value, event: "FLAGGED" };
    for (const webhook of [quality, account, olderQuality]) {
      expect((await world.postWebhook(webhook)).status).toBe(200);
    }
    const html = await eventually(async () => {
      const page = await (await postFrame(frameFields(world.memberId))).text();
      return page.includes("ACCOUNT_VIOLATION") && page.includes("THROUGHPUT_UPGRADE") ? page : undefined;
    });
    expect(html).toMatch(/data-account>WABA token valid · Meta: ACCOUNT_VIOLATION \(ADULT\)/);
    expect(html).toMatch(/data-quality>THROUGHPUT_UPGRADE \(limit TIER_UNLIMITED\)/);
    // The older FLAGGED report was processed too (it is behind the others in the queue), yet not shown.
    await new Promise((r) => setTimeout(r, 1500));
    expect(await (await postFrame(frameFields(world.memberId))).text()).not.toContain("FLAGGED");
  });

  it("does not let one portal's session change another portal's number, nor a forged session anything", async () => {
    const otherSession = sessionOf(await (await postFrame(frameFields(otherMemberId))).text());
    expect(otherSession).not.toBe("");
    const before = settingsRequests().length;
    const foreign = await saveForm(PHONE_ID, { session: otherSession, calling: "enabled" });
    expect(foreign.status).toBe(404);
    const [payload, signature] = otherSession.split(".") as [string, string];
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
    const swapped = Buffer.from(JSON.stringify({ ...claims, m: world.memberId })).toString("base64url");
    const forged = await saveForm(PHONE_ID, { session: `${swapped}.${signature}`, calling: "enabled" });
    expect(forged.status).toBe(401);
    const none = await saveForm(PHONE_ID, { calling: "enabled" });
    expect(none.status).toBe(401);
    expect(await none.json()).toEqual({
      ok: false,
      message: "Not allowed: open the app again from Bitrix24.",
    });
    expect(settingsRequests()).toHaveLength(before);
  });

  it("names the field and the fix when the form is wrong, before asking Meta", async () => {
    const session = sessionOf(await (await postFrame(frameFields(world.memberId))).text());
    const before = settingsRequests().length;
    const badHost = await saveForm(PHONE_ID, {
      session,
      calling: "enabled",
      sip: "enabled",
      host: "https://pbx.example.com:5061",
      port: "5061",
    });
    expect(badHost.status).toBe(400);
    expect(((await badHost.json()) as any).fieldErrors.host).toMatch(/^Server: .*host name/);
    const noHost = await saveForm(PHONE_ID, { session, calling: "enabled", sip: "enabled", port: "5061" });
    expect(((await noHost.json()) as any).fieldErrors).toEqual({
      host: "Server: enter the SIP server's host name to turn SIP on.",
    });
    const badPort = await saveForm(PHONE_ID, {
      session,
      sip: "enabled",
      host: "pbx.example.com",
      port: "70000",
    });
    expect(((await badPort.json()) as any).fieldErrors.port).toMatch(/^TLS port: .*1 to 65535/);
    // Without script the same form answers the whole page, with the message next to the field.
    const plain = await saveForm(
      PHONE_ID,
      { session, sip: "enabled", host: "bad host", port: "5061" },
      "text/html",
    );
    expect(plain.status).toBe(400);
    expect(await plain.text()).toMatch(/id="err-host-[^"]+"[^>]*>Server: /);
    expect(settingsRequests()).toHaveLength(before);
  });
});

describe("the app's page in a real browser (Chromium)", () => {
  let frame: Frame;

  it("renders the numbers inside the Bitrix24 frame and sizes the frame through BX24", async () => {
    frame = await openInFrame(page, appUrl(), frameFields(world.memberId));
    const panel = frame.locator(`section[data-phone="${PHONE_ID}"]`);
    await expect.poll(() => panel.locator("h2").textContent()).toBe(PHONE);
    expect(await frame.locator("section[data-phone]").count()).toBe(1);
    await expect
      .poll(() => frame.evaluate<string[]>("(window.__bx24Calls || []).map((c) => c.name)"))
      .toEqual(expect.arrayContaining(["init", "fitWindow"]));
    await screenshot(page, "app-page-numbers");
  });

  it("fills and saves the calling form: Meta gets the settings, the Error field says none", async () => {
    const form = frame.locator(`section[data-phone="${PHONE_ID}"] form`);
    const before = settingsRequests().length;
    await form.getByLabel("Calls").check();
    await form.getByLabel("SIP").check();
    await form.getByLabel("Server").fill("sip.example.com");
    await form.getByLabel("TLS port").fill("5061");
    await form.getByRole("button", { name: "Save" }).click();
    await expect.poll(() => settingsRequests().length).toBe(before + 1);
    expect(settingsRequests().at(-1)?.json).toEqual({
      calling: {
        status: "ENABLED",
        sip: { status: "ENABLED", servers: [{ hostname: "sip.example.com", port: 5061 }] },
      },
    });
    await expect
      .poll(() => form.locator("output[data-error-field]").textContent())
      .toBe("None: Meta applied the settings.");
    // The page saved through the admin API's use-case: the API shows what the page set.
    const api = await world.stack.admin("GET", `/api/admin/phones/${PHONE_ID}/calling`);
    expect(api.body).toMatchObject({
      calling: "enabled",
      sip: { status: "enabled", host: "sip.example.com", port: 5061 },
      error: null,
    });
  });

  it("shows Meta's refusal in the Error field: code, message, details, and the troubleshooting link", async () => {
    const form = frame.locator(`section[data-phone="${PHONE_ID}"] form`);
    world.meta.failNext(isSettings, 138015);
    await form.getByLabel("TLS port").fill("5071");
    await form.getByRole("button", { name: "Save" }).click();
    const errorField = form.locator("output[data-error-field]");
    await expect.poll(() => errorField.textContent()).toMatch(/^Meta error 138015: /);
    expect(await errorField.textContent()).toContain("Messaging limit is lower than 2000.");
    const link = form.getByRole("link", { name: "Meta's calling troubleshooting" });
    expect(await link.getAttribute("href")).toBe(
      "https://developers.facebook.com/docs/whatsapp/cloud-api/calling/troubleshooting",
    );
    await screenshot(page, "app-page-calling-error");
    // Opened again, the page shows the stored refusal: it is read from the number, not from the browser.
    const reopened = await openInFrame(page, appUrl(), frameFields(world.memberId));
    await expect
      .poll(() =>
        reopened.locator(`section[data-phone="${PHONE_ID}"] output[data-error-field]`).textContent(),
      )
      .toMatch(/^Meta error 138015: /);
    expect(await reopened.getByLabel("TLS port").inputValue()).toBe("5071");
  });

  it("a field error lands next to the field, marked invalid, and nothing goes to Meta", async () => {
    const reopened = await openInFrame(page, appUrl(), frameFields(world.memberId));
    const f = reopened.locator(`section[data-phone="${PHONE_ID}"] form`);
    const before = settingsRequests().length;
    await f.getByLabel("Server").fill("https://pbx.example.com/path");
    await f.getByRole("button", { name: "Save" }).click();
    await expect.poll(() => f.getByLabel("Server").getAttribute("aria-invalid")).toBe("true");
    expect(await f.locator("[id^='err-host-']").textContent()).toMatch(/^Server: /);
    expect(settingsRequests()).toHaveLength(before);
  });

  it("opens the numbers from an app whose handler path is still the install URL /api/bitrix/", async () => {
    const oldHandler = `${world.stack.url}/api/bitrix/`;
    const res = await fetch(oldHandler, { method: "POST", body: frameFields(world.memberId) });
    expect(res.status).toBe(200);
    const html = await res.text();
    // The user's own frame token goes on to the app's page; the refresh token stays out of the page.
    expect(html).toContain('action="/api/bitrix/app/"');
    expect(html).not.toContain(frameFields(world.memberId).get("REFRESH_ID"));
    const opened = await openInFrame(page, oldHandler, frameFields(world.memberId));
    const panel = opened.locator(`section[data-phone="${PHONE_ID}"]`);
    await expect.poll(() => panel.locator("h2").textContent()).toBe(PHONE);
  });
});

describe("the template picker in an open-line chat (IM_TEXTAREA)", () => {
  const pickerUrl = () => `${world.stack.url}/api/bitrix/app/picker/`;

  /** The customer writes (at `secondsAgo`); the chat Bitrix24 opened for them is `chat<CHAT_ID>`. */
  async function customerChat(customer: string, secondsAgo = 0): Promise<string> {
    const inbound = forOurNumber(fixtureJson<any>("meta/webhook_text.json"));
    const value = inbound.entry[0].changes[0].value;
    value.contacts[0].wa_id = customer;
    Object.assign(value.messages[0], {
      from: customer,
      id: `wamid.picker-${customer}`,
      timestamp: String(Math.floor(Date.now() / 1000) - secondsAgo),
    });
    expect((await world.postWebhook(inbound)).status).toBe(200);
    const delivered = await eventually(async () =>
      world.bitrix.portal(world.memberId).messages.find((m) => m.message.id === `wamid.picker-${customer}`),
    );
    return `chat${(delivered.result.session as { CHAT_ID: string }).CHAT_ID}`;
  }
  const pickerFields = (dialogId: string) =>
    frameFields(world.memberId, {
      PLACEMENT: "IM_TEXTAREA",
      PLACEMENT_OPTIONS: JSON.stringify({ dialogId, URI: "/online/" }),
    });

  beforeAll(() => {
    world.meta.setTemplates(WABA_ID, [
      ...fixtureJson<{ data: unknown[] }>("meta/message_templates_list_response.json").data,
      SHIPPING_NOTICE,
    ]);
  });

  it("is registered at install on the chat's text area, in open-line chats only", () => {
    expect(world.bitrix.portal(world.memberId).placements).toEqual([
      expect.objectContaining({
        placement: "IM_TEXTAREA",
        handler: pickerUrl(),
        options: expect.objectContaining({ context: "LINES", iconName: "fa-whatsapp" }),
      }),
    ]);
  });

  it("refuses a frame token the OAuth server does not know, and a chat the operator cannot reach", async () => {
    const forged = pickerFields("chat1");
    forged.set("AUTH_ID", "forged-token");
    const refused = await fetch(pickerUrl(), { method: "POST", body: forged });
    expect(refused.status).toBe(401);
    expect(await refused.text()).not.toContain("shipping_notice");
    const foreign = await fetch(pickerUrl(), { method: "POST", body: pickerFields("chat999999") });
    expect(foreign.status).toBe(403);
  });

  it("lists the approved templates, fills two variables and sends: the Graph fake receives the template", async () => {
    const customer = "16505550101";
    const dialogId = await customerChat(customer);
    const frame = await openInFrame(page, pickerUrl(), pickerFields(dialogId), { width: 720, height: 700 });
    const item = frame.locator('details[data-template="shipping_notice+en_US"]');
    expect(await item.locator("summary").textContent()).toBe("shipping_notice · en_US · utility");
    expect(await item.locator(".hint").textContent()).toBe("Hi {{1}}, your order {{2}} has shipped.");
    expect(await frame.locator("[data-window-closed]").count()).toBe(0);
    await item.locator("summary").click();
    await item.getByLabel("{{1}}").fill("Anna");
    await item.getByLabel("{{2}}").fill("A-17 | blue");
    await screenshot(page, "template-picker");
    await item.getByRole("button", { name: "Send" }).click();
    await expect
      .poll(() => item.locator("[data-outcome]").textContent())
      .toBe("Sent to the chat as template-shipping_notice+en_US+Anna|A-17 \\| blue");
    // Posted into the chat as the operator, then sent by the chat's own shortcode path.
    expect(world.bitrix.portal(world.memberId).chatMessages.at(-1)).toMatchObject({
      dialogId,
      text: "template-shipping_notice+en_US+Anna|A-17 \\| blue",
    });
    const sent = await eventually(async () =>
      world.meta.messagesTo(customer).find((m) => m.type === "template"),
    );
    expect(sent.body.template).toEqual(shippingNoticeSent("Anna", "A-17 | blue"));
  });

  it("gives an operator who is not an administrator a session the numbers page's forms refuse", async () => {
    const dialogId = await customerChat("16505550103");
    world.bitrix.portal(world.memberId).admin = false;
    try {
      const opened = await fetch(pickerUrl(), { method: "POST", body: pickerFields(dialogId) });
      expect(opened.status).toBe(200);
      const pickerSession = sessionOf(await opened.text());
      expect(pickerSession).not.toBe("");
      const before = settingsRequests().length;
      const escalated = await saveForm(PHONE_ID, { session: pickerSession, calling: "enabled" });
      expect(escalated.status).toBe(401);
      expect(settingsRequests()).toHaveLength(before);
    } finally {
      world.bitrix.portal(world.memberId).admin = true;
    }
  });

  it("says that only templates can go when the customer's 24-hour window is closed", async () => {
    const dialogId = await customerChat("16505550102", 25 * 3600);
    const frame = await openInFrame(page, pickerUrl(), pickerFields(dialogId), { width: 720, height: 500 });
    expect(await frame.locator("[data-window-closed]").textContent()).toBe(
      "The customer last wrote more than 24 hours ago: only a template can go now.",
    );
  });
});
