import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CONNECTOR_ID } from "#shared/domain/bitrix-connector.ts";
import { getRuntime } from "#shared/runtime.ts";
import { type FakeResponse, type HttpFake, type RecordedRequest, startHttpFake } from "../fakes/http-fake.ts";
import { fixtureJson } from "../fixtures.ts";
import { eventually } from "../support/stack.ts";
import { ORDER_UPDATE } from "../support/templates.ts";
import { forOurNumber, PHONE_ID, startWorld, WABA_ID, type World } from "../support/world.ts";

const CUSTOMER = "16505551234";
const CHAT = `wa:${CUSTOMER}`;
let world: World;
let files: HttpFake;
let lineId: number;
let imMessageId = 90_000;

const FILES: Record<string, { mime: string; bytes: Buffer }> = {
  "/f/photo.jpg": { mime: "image/jpeg", bytes: Buffer.alloc(2048, 1) },
  "/f/clip.mp4": { mime: "video/mp4", bytes: Buffer.alloc(4096, 2) },
  "/f/voice.ogg": { mime: "audio/ogg", bytes: Buffer.alloc(1024, 3) },
  "/f/offer.pdf": { mime: "application/pdf", bytes: Buffer.alloc(3000, 4) },
  "/f/big.jpg": { mime: "image/jpeg", bytes: Buffer.alloc(6_000_000, 5) },
};
/** A link that redirects off to plain HTTP on another host: must not be followed. */
const REDIRECTS: Record<string, string> = { "/f/sneaky.jpg": "http://169.254.169.254/latest/meta-data/" };

const templates = [
  ...fixtureJson<{ data: unknown[] }>("meta/message_templates_list_response.json").data,
  ORDER_UPDATE,
  {
    name: "greeting_named",
    language: "de",
    status: "APPROVED",
    category: "UTILITY",
    parameter_format: "NAMED",
    components: [{ type: "BODY", text: "Hallo {{first_name}}!" }],
  },
];

beforeAll(async () => {
  files = await startHttpFake((req): FakeResponse => {
    const redirect = REDIRECTS[req.path];
    if (redirect) return { status: 302, body: "", headers: { location: redirect } };
    const file = FILES[req.path];
    return file
      ? { status: 200, body: file.bytes, headers: { "content-type": file.mime } }
      : { status: 404, body: "no" };
  });
  world = await startWorld();
  world.meta.setTemplates(WABA_ID, templates);
  lineId = (await world.stack.admin("GET", `/api/admin/phones/${PHONE_ID}`)).body.line.id;
  // The customer writes first: the 24-hour window is open.
  const inbound = forOurNumber(fixtureJson<any>("meta/webhook_text.json"));
  Object.assign(inbound.entry[0].changes[0].value.messages[0], {
    id: "wamid.opening",
    timestamp: String(Math.floor(Date.now() / 1000)),
  });
  expect((await world.postWebhook(inbound)).status).toBe(200);
  await eventually(async () =>
    world.bitrix.portal(world.memberId).messages.find((m) => m.message.id === "wamid.opening"),
  );
});

afterAll(async () => {
  await world?.stop();
  await files?.close();
});

/** The operator writes in the Open Lines chat: Bitrix24 posts ONIMCONNECTORMESSAGEADD to our bound handler. */
async function operatorWrites(
  text: string,
  opts: {
    files?: { name: string; path: string; size?: number; link?: string }[];
    chat?: string;
    imId?: number;
  } = {},
) {
  const id = opts.imId ?? ++imMessageId;
  const message: Record<string, unknown> = { user_id: 27, text };
  if (opts.files) {
    message.files = opts.files.map((f) => ({
      name: f.name,
      link: f.link ?? `${files.url}${f.path}`,
      mime: FILES[f.path]?.mime,
      size: f.size ?? FILES[f.path]?.bytes.length,
      type: "file",
    }));
  }
  const results = await world.bitrix.deliverEvent(world.memberId, "ONIMCONNECTORMESSAGEADD", {
    CONNECTOR: CONNECTOR_ID,
    LINE: lineId,
    MESSAGES: [{ im: { chat_id: 1807, message_id: id }, message, chat: { id: opts.chat ?? CHAT } }],
  });
  expect(results.map((r) => r.status)).toEqual([200]);
  return id;
}

/** A message sent to the customer (not the read receipt that goes before a reply). */
const isSend = (req: RecordedRequest) =>
  req.method === "POST" && req.path.endsWith("/messages") && (req.json as any)?.status !== "read";
const sentTo = (to = CUSTOMER) => world.meta.messagesTo(to);
const notes = () =>
  world.bitrix.portal(world.memberId).messages.filter((m) => String(m.message.id).startsWith("note:"));

async function waitForSends(count: number, to = CUSTOMER) {
  return eventually(async () => (sentTo(to).length >= count ? sentTo(to) : undefined));
}

describe("operator text", () => {
  it("converts BBCode, keeps the signature as a bold first line, and records the send for statuses", async () => {
    const before = sentTo().length;
    await operatorWrites(
      "[b]Klaus Weber:[/b] [br]Hello [b]there[/b], see [url=https://shop.example]our shop[/url]",
    );
    const [sent] = (await waitForSends(before + 1)).slice(before);
    expect(sent?.type).toBe("text");
    expect((sent!.body.text as any).body).toBe(
      "*Klaus Weber:*\nHello *there*, see our shop (https://shop.example)",
    );
    const { conversations } = await getRuntime();
    const record = await eventually(async () => conversations.getOutbound(sent!.wamid));
    expect(record.origin).toMatchObject({ kind: "openlines", imChatId: "1807" });
  });

  it("splits a long text at WhatsApp's 4096 characters", async () => {
    const before = sentTo().length;
    await operatorWrites(`${"word ".repeat(1000)}\n\n${"more ".repeat(300)}`);
    const sent = (await waitForSends(before + 2)).slice(before);
    expect(sent).toHaveLength(2);
    for (const m of sent) expect(((m.body.text as any).body as string).length).toBeLessThanOrEqual(4096);
  });

  it("sends once when the queue hands the message to a second worker while the first still waits on Meta", async () => {
    const text = "slow answer from Meta";
    const isOurs = (req: { method: string; path: string; json?: unknown }) =>
      req.method === "POST" &&
      req.path.endsWith("/messages") &&
      (req.json as { text?: { body?: string } } | undefined)?.text?.body === text;
    // Meta takes the send but answers after the queue's visibility timeout (5 s in tests) has passed.
    world.meta.inject({
      match: isOurs,
      response: { status: 200, body: fixtureJson("meta/send_message_response.json"), delayMs: 6_500 },
    });
    await operatorWrites(text);
    await eventually(async () => (world.meta.requests.some(isOurs) ? true : undefined));
    await world.stack.settled(30_000);
    expect(world.meta.requests.filter(isOurs)).toHaveLength(1);
  });

  it("sends the same Bitrix24 message once even when the event arrives twice", async () => {
    const before = sentTo().length;
    const id = await operatorWrites("only once please");
    await waitForSends(before + 1);
    await operatorWrites("only once please", { imId: id });
    await world.stack.settled();
    expect(sentTo().length).toBe(before + 1);
  });

  it("reports delivery back to Bitrix24 when Meta says delivered", async () => {
    const before = sentTo().length;
    const id = await operatorWrites("track me");
    const [sent] = (await waitForSends(before + 1)).slice(before);
    const status = forOurNumber(fixtureJson<any>("meta/webhook_status_sent.json"));
    Object.assign(status.entry[0].changes[0].value.statuses[0], { id: sent!.wamid, status: "delivered" });
    await world.postWebhook(status);
    const report = await eventually(async () =>
      world.bitrix
        .portal(world.memberId)
        .deliveryStatuses.find((s) => JSON.stringify(s).includes(String(id))),
    );
    expect(JSON.stringify(report)).toContain(sent!.wamid);
  });

  it("writes nothing for Meta's sent status, and still reports the delivered after it once", async () => {
    const before = sentTo().length;
    const id = await operatorWrites("sent, then delivered");
    const [sent] = (await waitForSends(before + 1)).slice(before);
    const statusWebhook = (status: string) => {
      const webhook = forOurNumber(fixtureJson<any>("meta/webhook_status_sent.json"));
      Object.assign(webhook.entry[0].changes[0].value.statuses[0], { id: sent!.wamid, status });
      return webhook;
    };
    const { conversations } = await getRuntime();
    await world.postWebhook(statusWebhook("sent"));
    await world.stack.settled();
    expect((await conversations.getOutbound(sent!.wamid))?.status).toBe("accepted");
    await world.postWebhook(statusWebhook("delivered"));
    await world.postWebhook(statusWebhook("sent"));
    await world.stack.settled();
    expect((await conversations.getOutbound(sent!.wamid))?.status).toBe("delivered");
    const reports = world.bitrix
      .portal(world.memberId)
      .deliveryStatuses.filter((s) => JSON.stringify(s).includes(String(id)));
    expect(reports).toHaveLength(1);
  });
});

describe("operator files", () => {
  it.each([
    ["photo.jpg", "/f/photo.jpg", "image"],
    ["clip.mp4", "/f/clip.mp4", "video"],
    ["voice.ogg", "/f/voice.ogg", "audio"],
    ["offer.pdf", "/f/offer.pdf", "document"],
  ])("uploads %s to Meta and sends it as %s", async (name, path, kind) => {
    const before = sentTo().length;
    const uploadsBefore = world.meta.uploads.length;
    await operatorWrites("[b]Klaus Weber:[/b] [br]", { files: [{ name, path }] });
    const [sent] = (await waitForSends(before + 1)).slice(before);
    expect(sent?.type).toBe(kind);
    expect(world.meta.uploads.length).toBe(uploadsBefore + 1);
    expect(world.meta.uploads.at(-1)?.bytes.equals(FILES[path]!.bytes)).toBe(true);
    if (kind === "document") expect((sent!.body.document as any).filename).toBe(name);
  });

  it("captions the first file with the text once", async () => {
    const before = sentTo().length;
    await operatorWrites("[b]Klaus Weber:[/b] [br]Your photos", {
      files: [
        { name: "a.jpg", path: "/f/photo.jpg" },
        { name: "b.jpg", path: "/f/photo.jpg" },
      ],
    });
    const sent = (await waitForSends(before + 2)).slice(before);
    expect(sent).toHaveLength(2);
    expect((sent[0]!.body.image as any).caption).toBe("*Klaus Weber:*\nYour photos");
    expect((sent[1]!.body.image as any).caption).toBeUndefined();
  });

  it("sends a file Meta refuses as media (a 6 MB JPEG) as a link", async () => {
    const before = sentTo().length;
    await operatorWrites("", { files: [{ name: "big.jpg", path: "/f/big.jpg" }] });
    const [sent] = (await waitForSends(before + 1)).slice(before);
    expect(sent?.type).toBe("text");
    expect((sent!.body.text as any).body).toBe(`big.jpg: ${files.url}/f/big.jpg`);
  });

  it("sends a file over WhatsApp's 100 MB as a link in the text", async () => {
    const before = sentTo().length;
    await operatorWrites("", { files: [{ name: "huge.mov", path: "/f/clip.mp4", size: 150_000_000 }] });
    const [sent] = (await waitForSends(before + 1)).slice(before);
    expect(sent?.type).toBe("text");
    expect((sent!.body.text as any).body).toContain(`${files.url}/f/clip.mp4`);
  });
});

describe("file links", () => {
  it("does not follow a file link that redirects to plain HTTP elsewhere; the operator is told", async () => {
    const before = sentTo().length;
    const notesBefore = notes().length;
    await operatorWrites("", { files: [{ name: "sneaky.jpg", path: "/f/sneaky.jpg", size: 10 }] });
    const note = await eventually(async () => (notes().length > notesBefore ? notes().at(-1) : undefined));
    expect(note?.message.text).toMatch(
      /sneaky.jpg is not a URL we may fetch \(169.254.169.254 leads to an address that is not public\)/,
    );
    expect(sentTo().length).toBe(before);
  });
});

describe("operator files are streamed with a byte cap", () => {
  it("stops reading a file without Content-Length at WhatsApp's 100 MB; the operator is told", async () => {
    let sentBytes = 0;
    const endless = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "video/mp4" });
      const chunk = Buffer.alloc(256 * 1024, 7);
      const pump = () => {
        while (sentBytes < 300 * 1024 * 1024 && !res.destroyed) {
          sentBytes += chunk.length;
          if (!res.write(chunk)) return void res.once("drain", pump);
        }
        res.end();
      };
      pump();
    });
    await new Promise<void>((r) => endless.listen(0, "127.0.0.1", r));
    try {
      const link = `http://127.0.0.1:${(endless.address() as AddressInfo).port}/f/endless.mp4`;
      const notesBefore = notes().length;
      const uploadsBefore = world.meta.uploads.length;
      await operatorWrites("", { files: [{ name: "endless.mp4", path: "/f/clip.mp4", size: 4096, link }] });
      const note = await eventually(
        async () => (notes().length > notesBefore ? notes().at(-1) : undefined),
        60_000,
      );
      expect(note?.message.text).toMatch(/endless.mp4 is larger than WhatsApp takes/);
      expect(world.meta.uploads.length).toBe(uploadsBefore);
      expect(sentBytes).toBeLessThan(300 * 1024 * 1024);
    } finally {
      endless.closeAllConnections();
      await new Promise((r) => endless.close(r));
    }
  }, 90_000);
});

describe("template shortcodes", () => {
  it.each([
    ["template-hello_world+en_US", "hello_world", undefined],
    ["template+hello_world+en_US", "hello_world", undefined],
    ["[b]Klaus Weber:[/b] [br]template-hello_world+en_US", "hello_world", undefined],
  ])("sends %s as a template", async (text, name) => {
    const before = sentTo().length;
    await operatorWrites(text);
    const [sent] = (await waitForSends(before + 1)).slice(before);
    expect(sent?.type).toBe("template");
    expect(sent?.body.template).toMatchObject({ name, language: { code: "en_US" } });
  });

  it("fills positional variables, the header image and the URL button", async () => {
    const before = sentTo().length;
    await operatorWrites(
      "template-order_update+en_US+A-17|shipped|file_link:https://cdn.example/p.jpg|button_param:A-17",
    );
    const [sent] = (await waitForSends(before + 1)).slice(before);
    const components = (sent!.body.template as any).components as any[];
    expect(components.find((c) => c.type === "header").parameters[0]).toEqual({
      type: "image",
      image: { link: "https://cdn.example/p.jpg" },
    });
    expect(components.find((c) => c.type === "body").parameters.map((p: any) => p.text)).toEqual([
      "A-17",
      "shipped",
    ]);
    expect(components.find((c) => c.type === "button")).toMatchObject({
      sub_type: "url",
      index: "0",
      parameters: [{ type: "text", text: "A-17" }],
    });
  });

  it("fills named variables", async () => {
    const before = sentTo().length;
    await operatorWrites("template-greeting_named+de+first_name:Anna");
    const [sent] = (await waitForSends(before + 1)).slice(before);
    const body = ((sent!.body.template as any).components as any[]).find((c) => c.type === "body");
    expect(body.parameters).toEqual([{ type: "text", parameter_name: "first_name", text: "Anna" }]);
  });

  it.each([
    ["template-no_such_template+en_US", /no_such_template|not found|unknown/i],
    ["template-hello_world+fr", /language|en_US/i],
    ["template-order_update+en_US+only-one", /template-order_update\+en_US/],
  ])("tells the operator what is wrong with %s and sends nothing", async (text, pattern) => {
    const before = sentTo().length;
    const notesBefore = notes().length;
    await operatorWrites(text);
    const note = await eventually(async () => (notes().length > notesBefore ? notes().at(-1) : undefined));
    expect(note?.message.text).toMatch(pattern);
    expect(sentTo().length).toBe(before);
  });

  it("writes the template problem and the form to use as sentences", async () => {
    const notesBefore = notes().length;
    await operatorWrites("template-order_update+en_US+only-one");
    const note = await eventually(async () => (notes().length > notesBefore ? notes().at(-1) : undefined));
    expect(note?.message.text).not.toMatch(/\.\./);
    expect(note?.message.text).toMatch(/, but 1 was given[.;].* Write it as: template-order_update\+en_US\+/);
  });
});

describe("24-hour window and Meta's errors", () => {
  it("does not send free text to a customer outside the window; the operator is told to use a template", async () => {
    const notesBefore = notes().length;
    await operatorWrites("are you there?", { chat: "wa:16505550777" });
    const note = await eventually(async () => (notes().length > notesBefore ? notes().at(-1) : undefined));
    expect(note?.message.text).toMatch(/24-hour/);
    expect(note?.message.text).toMatch(/template-/);
    expect(sentTo("16505550777")).toHaveLength(0);
  });

  it("a template still reaches a customer outside the window", async () => {
    await operatorWrites("template-hello_world+en_US", { chat: "wa:16505550777" });
    await waitForSends(1, "16505550777");
  });

  it.each([130429, 131000, 131056, 500])(
    "retries transient error %s and sends exactly once",
    async (code) => {
      const before = sentTo().length;
      world.meta.failNext(isSend, code);
      await operatorWrites(`after ${code}`);
      await waitForSends(before + 1);
      await world.stack.settled();
      expect(sentTo().filter((m) => (m.body.text as any)?.body === `after ${code}`)).toHaveLength(1);
    },
  );

  it.each([
    [131026, /131026/],
    [131047, /24-hour/],
  ])("reports permanent error %s once as a note", async (code, pattern) => {
    const notesBefore = notes().length;
    world.meta.failNext(isSend, code);
    await operatorWrites(`fails with ${code}`);
    const note = await eventually(async () => (notes().length > notesBefore ? notes().at(-1) : undefined));
    expect(note?.message.text).toMatch(pattern);
    await world.stack.settled();
    expect(notes().length).toBe(notesBefore + 1);
  });

  it("marks the WABA's token invalid on 190 and tells the operator", async () => {
    const notesBefore = notes().length;
    world.meta.failNext(isSend, 190);
    await operatorWrites("token trouble");
    const note = await eventually(async () => (notes().length > notesBefore ? notes().at(-1) : undefined));
    expect((await world.stack.admin("GET", `/api/admin/wabas/${WABA_ID}`)).body.tokenStatus).toBe("invalid");
    expect(note?.message.text).toMatch(/190: Invalid access token/);
    expect(note?.message.text).not.toMatch(/has expired/);
  });

  it("tells the operator WhatsApp cannot edit a sent message", async () => {
    const notesBefore = notes().length;
    await world.bitrix.deliverEvent(world.memberId, "ONIMCONNECTORMESSAGEUPDATE", {
      CONNECTOR: CONNECTOR_ID,
      LINE: lineId,
      MESSAGES: [
        {
          im: { chat_id: 1807, message_id: 90001 },
          message: { id: ["wamid.x"], text: "edited" },
          chat: { id: CHAT },
        },
      ],
    });
    const note = await eventually(async () => (notes().length > notesBefore ? notes().at(-1) : undefined));
    expect(note?.message.text).toMatch(/cannot change/);
  });
});

describe("read receipts and typing indicator", () => {
  let seq = 0;
  /** The customer writes (a fresh wamid), and the message is in the open line. */
  async function customerWrites(at = Math.floor(Date.now() / 1000), from = CUSTOMER): Promise<string> {
    const wamid = `wamid.receipt-${++seq}`;
    const inbound = forOurNumber(fixtureJson<any>("meta/webhook_text.json"));
    const value = inbound.entry[0].changes[0].value;
    value.contacts[0].wa_id = from;
    Object.assign(value.messages[0], { id: wamid, from, timestamp: String(at) });
    expect((await world.postWebhook(inbound)).status).toBe(200);
    await eventually(async () =>
      world.bitrix.portal(world.memberId).messages.find((m) => m.message.id === wamid),
    );
    return wamid;
  }
  const readRequests = () =>
    world.meta.requests.filter((r) => r.path.endsWith("/messages") && (r.json as any)?.status === "read");
  const patchPhone = (body: unknown) => world.stack.admin("PATCH", `/api/admin/phones/${PHONE_ID}`, body);

  it("marks the customer's last message as read when the operator replies (default), before the reply", async () => {
    expect((await world.stack.admin("GET", `/api/admin/phones/${PHONE_ID}`)).body).toMatchObject({
      readReceipts: true,
      typingIndicator: false,
    });
    const wamid = await customerWrites();
    const before = sentTo().length;
    await operatorWrites("Thanks, reading it now");
    await waitForSends(before + 1);
    const receipt = readRequests().find((r) => (r.json as any).message_id === wamid);
    // Meta's documented mark-as-read body, with our message id.
    expect(receipt?.json).toEqual({
      ...fixtureJson<object>("meta/send_mark_as_read.json"),
      message_id: wamid,
    });
    const reply = world.meta.requests.findLast((r) => (r.json as any)?.to === `+${CUSTOMER}`);
    expect(world.meta.requests.indexOf(receipt!)).toBeLessThan(world.meta.requests.indexOf(reply!));
  });

  it("marks the latest of several messages read, though the conversation item was written only for the first", async () => {
    const { conversations } = await getRuntime();
    const customer = "16505550777";
    const now = Math.floor(Date.now() / 1000);
    const first = await customerWrites(now - 20, customer);
    const written = (await conversations.getConversation(PHONE_ID, customer))?.lastInboundAt;
    expect(written).toBe(new Date((now - 20) * 1000).toISOString());
    const latest = await customerWrites(now - 10, customer);
    // Within the window's refresh interval: no write for the second message.
    expect((await conversations.getConversation(PHONE_ID, customer))?.lastInboundAt).toBe(written);
    const before = sentTo(customer).length;
    await operatorWrites("Both read", { chat: `wa:${customer}` });
    await eventually(async () => (sentTo(customer).length > before ? true : undefined));
    expect(readRequests().map((r) => (r.json as any).message_id)).toContain(latest);
    expect(readRequests().map((r) => (r.json as any).message_id)).not.toContain(first);
  });

  it("sends the typing indicator with the read receipt when the number says so", async () => {
    expect((await patchPhone({ typingIndicator: true })).body.typingIndicator).toBe(true);
    const wamid = await customerWrites();
    const before = sentTo().length;
    await operatorWrites("One moment");
    await waitForSends(before + 1);
    const receipt = readRequests().find((r) => (r.json as any).message_id === wamid);
    expect(receipt?.json).toEqual({
      ...fixtureJson<object>("meta/send_typing_indicator.json"),
      message_id: wamid,
    });
  });

  it("sends no read receipt when the number turns them off; the reply still goes", async () => {
    expect((await patchPhone({ readReceipts: false })).body.readReceipts).toBe(false);
    const wamid = await customerWrites();
    const before = sentTo().length;
    await operatorWrites("No blue ticks here");
    await waitForSends(before + 1);
    expect(readRequests().filter((r) => (r.json as any).message_id === wamid)).toHaveLength(0);
    await patchPhone({ readReceipts: true, typingIndicator: false });
  });

  it("a read receipt Meta refuses does not hold the reply back", async () => {
    const wamid = await customerWrites();
    world.meta.failNext((r) => r.path.endsWith("/messages") && (r.json as any)?.status === "read", 100);
    const before = sentTo().length;
    await operatorWrites("Still arrives");
    const [sent] = (await waitForSends(before + 1)).slice(before);
    expect((sent!.body.text as any).body).toBe("Still arrives");
    expect(world.meta.readReceipts.filter((r) => r.messageId === wamid)).toHaveLength(0);
  });
});
