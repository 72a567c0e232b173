import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CONNECTOR_ID } from "#shared/domain/bitrix-connector.ts";
import { type BitrixFakeSnapshot, startBitrixFake } from "../test/fakes/bitrix24.ts";
import { startHttpFake } from "../test/fakes/http-fake.ts";
import { signWebhook, startMetaGraphFake } from "../test/fakes/meta-graph.ts";
import { fixtureJson } from "../test/fixtures.ts";

/**
 * `npm run fakes` — Meta's Graph API, a Bitrix24 portal and the two regional Bitrix24 OAuth servers as loopback fakes on
 * fixed ports, for trying the whole flow by hand next to `npm start` (real Meta and Bitrix24 need public
 * HTTPS callbacks), plus a small control server that plays the customer and the operator. The same
 * fakes drive the integration tests. The portal (its tokens, lines, bindings, ids) is kept in
 * `.local/fakes.json`, so a set-up saved in `npm start`'s data keeps working after a restart of either.
 */
const metaPort = Number(process.env.FAKE_META_PORT ?? 4001);
const bitrixPort = Number(process.env.FAKE_BITRIX_PORT ?? 4002);
const controlPort = Number(process.env.FAKE_CONTROL_PORT ?? 4003);
const oauthWestPort = Number(process.env.FAKE_OAUTH_WEST_PORT ?? 4004);
const oauthEastPort = Number(process.env.FAKE_OAUTH_EAST_PORT ?? 4005);
const api = process.env.API ?? `http://127.0.0.1:${process.env.PORT ?? 3000}`;
const clientId = "local.demo0000000000.00000000";
const clientSecret = "demo-bitrix-client-secret";
const wabaToken = "EAAG-demo-waba-token";
const appSecret = "my-app-secret";
const phoneId = "106540352242922";
const customer = "16505551234";

const meta = await startMetaGraphFake({ port: metaPort });
meta.addToken(wabaToken);
meta.setTemplates(
  "102290129340398",
  fixtureJson<{ data: unknown[] }>("meta/message_templates_list_response.json").data,
);
const dir = join(process.cwd(), ".local");
mkdirSync(dir, { recursive: true });
const stateFile = join(dir, "fakes.json");
const bitrix = await startBitrixFake({
  port: bitrixPort,
  oauthPorts: { west: oauthWestPort, east: oauthEastPort },
});
const kept = existsSync(stateFile)
  ? (JSON.parse(readFileSync(stateFile, "utf8")) as { bitrix: BitrixFakeSnapshot; counter: number })
  : undefined;
if (kept) bitrix.restore(kept.bitrix);
const portal = bitrix.portals[0] ?? bitrix.addPortal({ clientId, clientSecret, installed: true });
// Operator message ids go on from where they were: the bridge sends a Bitrix24 message id only once.
let counter = kept?.counter ?? 0;
let saved = "";
const save = () => {
  const now = JSON.stringify({ bitrix: bitrix.snapshot(), counter });
  if (now !== saved) writeFileSync(stateFile, now, { mode: 0o600 });
  saved = now;
};
save();
// Tokens refresh and lines appear while the stack works: written down within a second, and at the end.
setInterval(save, 1000).unref();
const demoFile = Buffer.alloc(2048, 7);

/** The part of Meta's text webhook the customer's message is written into. */
interface TextWebhook {
  entry: Array<{
    changes: Array<{
      value: { metadata: { phone_number_id: string }; messages: Array<Record<string, unknown>> };
    }>;
  }>;
}

const control = await startHttpFake(
  async (req) => {
    // curl -d sends a form content type; the body is JSON all the same.
    const body = (req.json ?? (req.rawBody.trim().startsWith("{") ? JSON.parse(req.rawBody) : {})) as {
      text?: string;
      file?: boolean;
    };
    if (req.method === "GET" && req.path === "/files/photo.jpg") {
      return { status: 200, body: demoFile, headers: { "content-type": "image/jpeg" } };
    }
    if (req.method === "POST" && req.path === "/customer-writes") {
      const payload = fixtureJson<TextWebhook>("meta/webhook_text.json");
      const value = payload.entry[0]?.changes[0]?.value;
      if (!value?.messages[0]) throw new Error("meta/webhook_text.json has no message");
      Object.assign(value.messages[0], {
        id: `wamid.demo-${++counter}-${Date.now()}`,
        timestamp: String(Math.floor(Date.now() / 1000)),
        text: { body: body.text ?? "Hello!" },
      });
      value.metadata.phone_number_id = phoneId;
      const raw = JSON.stringify(payload);
      const res = await fetch(`${api}/api/waba/?app_id=1234`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-hub-signature-256": signWebhook(raw, appSecret) },
        body: raw,
      });
      return { status: res.status, body: { webhook: res.status } };
    }
    if (req.method === "POST" && req.path === "/operator-writes") {
      const line = [...bitrix.portal(portal.memberId).lineStatus.values()].find(
        (s) => s.connector === CONNECTOR_ID,
      );
      const message: Record<string, unknown> = {
        user_id: 1,
        text: `[b]Operator:[/b] [br]${body.text ?? ""}`,
      };
      if (body.file) {
        message.files = [
          {
            name: "photo.jpg",
            link: `${control.url}/files/photo.jpg`,
            mime: "image/jpeg",
            size: demoFile.length,
          },
        ];
      }
      const results = await bitrix.deliverEvent(portal.memberId, "ONIMCONNECTORMESSAGEADD", {
        CONNECTOR: CONNECTOR_ID,
        LINE: line?.line,
        MESSAGES: [
          { im: { chat_id: 1, message_id: 1000 + ++counter }, message, chat: { id: `wa:${customer}` } },
        ],
      });
      return { status: 200, body: { delivered: results.map((r) => r.status) } };
    }
    if (req.method === "GET" && req.path === "/state") {
      const state = bitrix.portal(portal.memberId);
      return {
        status: 200,
        body: {
          whatsappSends: meta.sentMessages.map((m) => ({ to: m.to, type: m.type, [m.type]: m.body[m.type] })),
          openLineMessages: state.messages.map((m) => ({ id: m.message.id, text: m.message.text })),
          deliveryStatuses: state.deliveryStatuses.length,
        },
      };
    }
    return { status: 404, body: { error: "POST /customer-writes, POST /operator-writes, GET /state" } };
  },
  { port: controlPort },
);

// As real portals send it: the install page without an application token, then ONAPPINSTALL with it.
const pageFile = join(dir, "fake-bitrix-install-page.txt");
writeFileSync(pageFile, bitrix.installPageBody(portal.memberId));
const pageQuery = bitrix.installPageQuery(portal.memberId);
const installFile = join(dir, "fake-bitrix-install.txt");
writeFileSync(installFile, bitrix.installEventBody(portal.memberId));

console.log(`
Fakes are running:  Meta Graph API ${meta.url}   Bitrix24 portal ${bitrix.url}
                    Bitrix24 OAuth servers ${bitrix.oauthUrls} (west, east)   control ${control.url}

1. Start the system against them (another terminal):
     GRAPH_API_BASE_URL=${meta.url} BITRIX_OAUTH_URLS=${bitrix.oauthUrls} PUBLIC_BASE_URL=${api} PORT=${new URL(api).port || 3000} npm start
   (Bitrix24 accepts handler URLs only with a dotted host, hence 127.0.0.1 rather than localhost.)

2. With TOKEN = the admin token npm start prints, and API=${api}:
     curl -s -X POST $API/api/admin/apps -H "authorization: Bearer $TOKEN" \\
       -d '{"appId":"1234","name":"Shop","appSecret":"${appSecret}","domains":["localhost"]}'
     curl -s -X POST $API/api/admin/wabas -H "authorization: Bearer $TOKEN" \\
       -d '{"wabaId":"102290129340398","name":"Main","appId":"1234","accessToken":"${wabaToken}"}'
     curl -s -X POST $API/api/admin/bitrix-apps -H "authorization: Bearer $TOKEN" \\
       -d '{"clientId":"${clientId}","clientSecret":"${clientSecret}"}'
     curl -s -X POST "$API/api/bitrix/?${pageQuery}" --data-binary @${pageFile}   # the install page
     curl -s -X POST $API/api/bitrix/ --data-binary @${installFile}      # ONAPPINSTALL: the application token
     curl -s -X POST $API/api/admin/phones -H "authorization: Bearer $TOKEN" \\
       -d '{"phone":"+15550783881","phoneId":"${phoneId}","wabaId":"102290129340398","memberId":"${portal.memberId}","smsService":true}'

3. Play the customer and the operator:
     curl -s -X POST ${control.url}/customer-writes -d '{"text":"Do you have it in blue?"}'
     curl -s -X POST ${control.url}/operator-writes -d '{"text":"Yes, [b]tomorrow[/b]!"}'
     curl -s -X POST ${control.url}/operator-writes -d '{"text":"Here it is","file":true}'
     curl -s -X POST ${control.url}/operator-writes -d '{"text":"template-hello_world+en_US"}'
     curl -s ${control.url}/state      # what reached WhatsApp and the open line

Ctrl-C stops the fakes.`);

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    save();
    Promise.all([meta.close(), bitrix.close(), control.close()]).then(() => process.exit(0));
  });
}
