import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startBitrixFake } from "../test/fakes/bitrix24.ts";
import { startMetaGraphFake } from "../test/fakes/meta-graph.ts";

/**
 * `npm run fakes` — Meta's Graph API and a Bitrix24 portal (REST + OAuth server) as loopback fakes on
 * fixed ports, for trying the whole flow by hand next to `npm start` (real Meta and Bitrix24 need public
 * HTTPS callbacks). Prints what to run; the same fakes drive the integration tests.
 */
const metaPort = Number(process.env.FAKE_META_PORT ?? 4001);
const bitrixPort = Number(process.env.FAKE_BITRIX_PORT ?? 4002);
const clientId = "local.demo0000000000.00000000";
const clientSecret = "demo-bitrix-client-secret";
const wabaToken = "EAAG-demo-waba-token";

const meta = await startMetaGraphFake({ port: metaPort });
meta.addToken(wabaToken);
const bitrix = await startBitrixFake({ port: bitrixPort });
const portal = bitrix.addPortal({ clientId, clientSecret, installed: true });

const dir = join(process.cwd(), ".local");
mkdirSync(dir, { recursive: true });
const installFile = join(dir, "fake-bitrix-install.txt");
writeFileSync(installFile, bitrix.installEventBody(portal.memberId));

console.log(`
Fakes are running:  Meta Graph API ${meta.url}   Bitrix24 portal + OAuth ${bitrix.url}

1. Start the system against them (another terminal):
     GRAPH_API_BASE_URL=${meta.url} BITRIX_OAUTH_URL=${bitrix.oauthUrl} PUBLIC_BASE_URL=http://127.0.0.1:3000 npm start
   (Bitrix24 accepts handler URLs only with a dotted host, hence 127.0.0.1 rather than localhost.)

2. With TOKEN = the admin token npm start prints, and API=http://127.0.0.1:3000:
     curl -s -X POST $API/api/admin/apps -H "authorization: Bearer $TOKEN" \\
       -d '{"appId":"1234","name":"Shop","appSecret":"my-app-secret","domains":["localhost"]}'
     curl -s -X POST $API/api/admin/wabas -H "authorization: Bearer $TOKEN" \\
       -d '{"wabaId":"102290129340398","name":"Main","appId":"1234","accessToken":"${wabaToken}"}'
     curl -s -X POST $API/api/admin/bitrix-apps -H "authorization: Bearer $TOKEN" \\
       -d '{"clientId":"${clientId}","clientSecret":"${clientSecret}"}'
     curl -s -X POST $API/api/bitrix/ --data-binary @${installFile}      # the portal installs the app
     curl -s -X POST $API/api/admin/phones -H "authorization: Bearer $TOKEN" \\
       -d '{"phone":"+15550783881","phoneId":"106540352242922","wabaId":"102290129340398","memberId":"${portal.memberId}","smsService":true}'

Ctrl-C stops the fakes.`);

process.on("SIGINT", () => {
  Promise.all([meta.close(), bitrix.close()]).then(() => process.exit(0));
});
