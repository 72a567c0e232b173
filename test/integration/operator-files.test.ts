/**
 * Operators' files as Bitrix24 sends them: a category (`image`) where a MIME type should be, both
 * `downloadLink` and `link` (the documented payload), and only `params[FILE_ID]` (fetched with
 * `disk.file.get`, or the operator is told why it did not go).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CONNECTOR_ID } from "#shared/domain/bitrix-connector.ts";
import { type FakeResponse, type HttpFake, startHttpFake } from "../fakes/http-fake.ts";
import { fixtureJson } from "../fixtures.ts";
import { eventually } from "../support/stack.ts";
import { forOurNumber, PHONE_ID, startWorld, type World } from "../support/world.ts";

const CUSTOMER = "16505551234";
const JPEG = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(2000, 1)]);
const PNG = Buffer.concat([
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
  Buffer.alloc(900, 2),
]);
const FILES: Record<string, Buffer> = { "/d/photo": JPEG, "/d/shot": PNG, "/l/photo": JPEG };

let world: World;
let files: HttpFake;
let lineId: number;
let imMessageId = 70_000;

beforeAll(async () => {
  // No content type on purpose: what we tell Meta must come from Bitrix24's data, the name or the bytes.
  files = await startHttpFake((req): FakeResponse => {
    const bytes = FILES[req.path];
    return bytes ? { status: 200, body: bytes } : { status: 404, body: "no" };
  });
  world = await startWorld();
  lineId = (await world.stack.admin("GET", `/api/admin/phones/${PHONE_ID}`)).body.line.id;
  const inbound = forOurNumber(fixtureJson<any>("meta/webhook_text.json"));
  Object.assign(inbound.entry[0].changes[0].value.messages[0], {
    id: "wamid.files-opening",
    timestamp: String(Math.floor(Date.now() / 1000)),
  });
  expect((await world.postWebhook(inbound)).status).toBe(200);
  await eventually(async () =>
    world.bitrix.portal(world.memberId).messages.find((m) => m.message.id === "wamid.files-opening"),
  );
});

afterAll(async () => {
  await world?.stop();
  await files?.close();
});

async function operatorSends(message: Record<string, unknown>) {
  const results = await world.bitrix.deliverEvent(world.memberId, "ONIMCONNECTORMESSAGEADD", {
    CONNECTOR: CONNECTOR_ID,
    LINE: lineId,
    MESSAGES: [
      {
        im: { chat_id: 1807, message_id: ++imMessageId },
        message: { user_id: 27, ...message },
        chat: { id: `wa:${CUSTOMER}` },
      },
    ],
  });
  expect(results.map((r) => r.status)).toEqual([200]);
}

const sent = () => world.meta.messagesTo(CUSTOMER);
const notes = () =>
  world.bitrix.portal(world.memberId).messages.filter((m) => String(m.message.id).startsWith("note:"));

async function nextSend(before: number) {
  return eventually(async () => (sent().length > before ? sent()[before] : undefined));
}

describe("operator files", () => {
  it("takes the MIME type from the name when Bitrix24 gives a category (type: image)", async () => {
    const before = sent().length;
    await operatorSends({
      text: "",
      files: [{ name: "photo.jpg", type: "image", link: `${files.url}/d/photo`, size: JPEG.length }],
    });
    const message = await nextSend(before);
    expect(message?.type).toBe("image");
    expect(world.meta.uploads.at(-1)?.mimeType).toBe("image/jpeg");
  });

  it("takes it from the bytes when the name tells nothing", async () => {
    const before = sent().length;
    await operatorSends({
      text: "",
      files: [{ name: "screenshot", type: "image", link: `${files.url}/d/shot` }],
    });
    await nextSend(before);
    expect(world.meta.uploads.at(-1)?.mimeType).toBe("image/png");
  });

  it("downloads from downloadLink when the event carries it beside link", async () => {
    const before = sent().length;
    const fetched = files.requests.length;
    await operatorSends({
      text: "",
      files: [
        {
          name: "photo.jpg",
          type: "image",
          mime: "image/jpeg",
          link: `${files.url}/gone/photo`,
          downloadLink: `${files.url}/l/photo`,
        },
      ],
    });
    expect((await nextSend(before))?.type).toBe("image");
    expect(files.requests.slice(fetched).map((r) => r.path)).toEqual(["/l/photo"]);
  });

  it("fetches a file named only by params[FILE_ID] through disk.file.get", async () => {
    const portal = world.bitrix.portal(world.memberId);
    portal.scope = `${portal.scope},disk`;
    const id = world.bitrix.addDiskFile(world.memberId, { name: "offer.png", bytes: PNG });
    const before = sent().length;
    await operatorSends({ text: "Our offer", params: { FILE_ID: [id] } });
    const message = await nextSend(before);
    expect(message?.type).toBe("image");
    expect(world.meta.uploads.at(-1)?.bytes.equals(PNG)).toBe(true);
    expect(world.bitrix.callCount("disk.file.get")).toBeGreaterThan(0);
  });

  it("never hands the customer a Disk link, whose auth= is the portal's access token, when Meta refuses the file", async () => {
    const portal = world.bitrix.portal(world.memberId);
    if (!portal.scope.includes("disk")) portal.scope = `${portal.scope},disk`;
    // A zip is no media type WhatsApp takes (Meta answers 131053): the file could only go as its link.
    const id = world.bitrix.addDiskFile(world.memberId, {
      name: "catalogue.zip",
      bytes: Buffer.concat([Buffer.from("PK\x03\x04"), Buffer.alloc(500, 3)]),
    });
    const sentBefore = sent().length;
    const notesBefore = notes().length;
    await operatorSends({ text: "", params: { FILE_ID: [id] } });
    const note = await eventually(async () => (notes().length > notesBefore ? notes().at(-1) : undefined));
    expect(note?.message.text).toContain("catalogue.zip");
    const toCustomer = JSON.stringify(sent().slice(sentBefore));
    expect(toCustomer).not.toContain(portal.accessToken);
    expect(toCustomer).not.toContain("download.json");
  });

  it("tells the operator in the chat when Bitrix24 will not give the file, instead of dropping it", async () => {
    const portal = world.bitrix.portal(world.memberId);
    portal.scope = portal.scope.replace(/,disk$/, "");
    const id = world.bitrix.addDiskFile(world.memberId, {
      name: "secret.pdf",
      bytes: Buffer.from("%PDF-1.4"),
    });
    const notesBefore = notes().length;
    await operatorSends({ text: "", params: { FILE_ID: [id] } });
    const note = await eventually(async () => (notes().length > notesBefore ? notes().at(-1) : undefined));
    expect(note?.message.text).toContain(`file ${id}`);
    expect(note?.message.text).toContain("insufficient_scope");
  });
});
