/**
 * Details of how we talk to the Graph API that Meta documents and other clients learnt the hard way: the
 * customer's number with `+`, a User-Agent on media downloads, maintenance mode as a passing failure.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GraphClient } from "#shared/adapters/meta-graph/client.ts";
import { makeSafeFetch } from "#shared/adapters/safe-fetch.ts";
import { GraphApiError } from "#shared/errors.ts";
import { startHttpFake } from "../fakes/http-fake.ts";
import { type MetaGraphFake, startMetaGraphFake } from "../fakes/meta-graph.ts";
import { fixtureJson } from "../fixtures.ts";

const TARGET = { accessToken: "EAAG-wire-token", graphApiVersion: "v25.0" };
const PHONE_ID = "106540352242922";

let meta: MetaGraphFake;
let client: GraphClient;

beforeAll(async () => {
  meta = await startMetaGraphFake();
  meta.addToken(TARGET.accessToken);
  // The fake listens on loopback, which only the local stack's policy lets a URL from outside reach.
  client = new GraphClient({
    baseUrl: meta.url,
    timeoutMs: 5_000,
    fromOutside: makeSafeFetch({ allowLoopback: true }),
  });
});

afterAll(async () => {
  await meta.close();
});

describe("sendMessage", () => {
  // Meta (send-messages): without `+` the business number's country code is prepended.
  it("names the customer in E.164 with +, whatever form the number came in", async () => {
    for (const to of ["16505551234", "+16505551234", "+1 (650) 555-1234"]) {
      await client.sendMessage(PHONE_ID, { to, type: "text", text: { body: "hi" } }, TARGET);
    }
    expect(meta.sentMessages.map((m) => m.body.to)).toEqual(["+16505551234", "+16505551234", "+16505551234"]);
  });
});

describe("send answers in the forms other clients record", () => {
  // Meta's documented answer has messaging_product, contacts and messages (fixture send_message_response);
  // chatwoot's Cloud API spec (spec/services/whatsapp/providers/whatsapp_cloud_service_spec.rb) stubs
  // only `{messages: [{id}]}` and sends `to: "+123456789"`. Both answers must give the wamid.
  it.each([
    ["documented", fixtureJson<{ messages: { id: string }[] }>("meta/send_message_response.json")],
    ["chatwoot's stub", { messages: [{ id: "message_id" }] }],
  ])("reads the wamid from the %s answer", async (_form, answer) => {
    const graph = await startHttpFake(() => ({ status: 200, body: answer }));
    try {
      const wamid = await new GraphClient({ baseUrl: graph.url, timeoutMs: 5_000 }).sendMessage(
        PHONE_ID,
        { to: "123456789", type: "text", text: { body: "test" } },
        TARGET,
      );
      expect(wamid).toBe(answer.messages[0]?.id);
      expect((graph.requests[0]?.json as { to?: string } | undefined)?.to).toBe("+123456789");
    } finally {
      await graph.close();
    }
  });
});

describe("media download", () => {
  it("sends a User-Agent of its own", async () => {
    meta.addMedia("900000000000001", { mimeType: "image/jpeg", bytes: Buffer.from("jpeg-bytes") });
    const info = await client.getMedia("900000000000001", TARGET);
    const { body } = await client.download(info.url, TARGET, 1_000_000);
    const chunks: Buffer[] = [];
    for await (const chunk of body) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe("jpeg-bytes");
    const download = meta.requests.at(-1);
    expect(download?.headers["user-agent"]).toMatch(/^separator-waba\//);
  });
});

describe("GraphApiError", () => {
  it("retries maintenance mode (131057) like the other passing failures", () => {
    expect(new GraphApiError(400, 131057, "Account in maintenance mode").transient).toBe(true);
    for (const code of [1, 2, 4, 80007, 130429, 131000, 131016, 131056, 133004]) {
      expect(new GraphApiError(400, code, "").transient).toBe(true);
    }
    expect(new GraphApiError(400, 131047, "Re-engagement message").transient).toBe(false);
  });
});
