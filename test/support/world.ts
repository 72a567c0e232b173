import { type BitrixFake, type BitrixPortalInput, startBitrixFake } from "../fakes/bitrix24.ts";
import { type MetaGraphFake, signWebhook, startMetaGraphFake } from "../fakes/meta-graph.ts";
import { startTestStack, type TestStack } from "./stack.ts";

export const APP_ID = "1111";
export const APP_SECRET = "app-secret-world-0001";
export const WABA_ID = "102290129340398";
export const WABA_TOKEN = "EAAG-world-waba-token";
export const PHONE_ID = "106540352242922";
export const PHONE = "+15550783881";
export const CLIENT_ID = "local.world00000000.00000001";
export const CLIENT_SECRET = "world-bitrix-client-secret";

export interface World {
  readonly stack: TestStack;
  readonly meta: MetaGraphFake;
  readonly bitrix: BitrixFake;
  readonly memberId: string;
  /** Signs and posts a webhook the way Meta does; objects are JSON-encoded. */
  postWebhook(payload: unknown): Promise<Response>;
  stop(): Promise<void>;
}

/**
 * The whole system configured as a business would: a Meta app and WABA, a Bitrix24 app installed on a
 * portal, and one WhatsApp number connected to its open line — against the loopback fakes.
 */
export async function startWorld(
  env: Record<string, string | undefined> = {},
  portalInput: BitrixPortalInput = {},
  queues: { maxReceiveCount?: number; pollerConcurrency?: number } = {},
): Promise<World> {
  const meta = await startMetaGraphFake();
  meta.addToken(WABA_TOKEN);
  const bitrix = await startBitrixFake();
  const stack = await startTestStack(
    {
      GRAPH_API_BASE_URL: meta.url,
      BITRIX_OAUTH_URL: bitrix.oauthUrl,
      RETRY_BASE_SECONDS: "1",
      RETRY_MAX_SECONDS: "1",
      ...env,
    },
    queues,
  );
  const memberId = await connectBusiness(stack, bitrix, portalInput);
  return {
    stack,
    meta,
    bitrix,
    memberId,
    postWebhook(payload: unknown) {
      const body = typeof payload === "string" ? payload : JSON.stringify(payload);
      return fetch(`${stack.url}/api/waba/?app_id=${APP_ID}`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-hub-signature-256": signWebhook(body, APP_SECRET) },
        body,
      });
    },
    async stop() {
      await stack.stop();
      await Promise.all([meta.close(), bitrix.close()]);
    },
  };
}

/** What `connectBusiness` needs of a running stack: its address and its admin API. */
export interface AdminTarget {
  readonly url: string;
  admin(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
}

/**
 * Sets a business up on a running stack, through its admin API and the Bitrix24 install as a portal
 * sends it: the Meta app and WABA, the Bitrix24 app installed on a new portal of the fake, our number
 * connected to its open line. Returns the portal's member id.
 */
export async function connectBusiness(
  stack: AdminTarget,
  bitrix: BitrixFake,
  portalInput: BitrixPortalInput = {},
): Promise<string> {
  const ok = (what: string, res: { status: number; body: unknown }) => {
    if (res.status >= 300) throw new Error(`${what} failed: ${res.status} ${JSON.stringify(res.body)}`);
  };
  ok(
    "app",
    await stack.admin("POST", "/api/admin/apps", { appId: APP_ID, name: "Shop", appSecret: APP_SECRET }),
  );
  ok(
    "waba",
    await stack.admin("POST", "/api/admin/wabas", {
      wabaId: WABA_ID,
      name: "Main",
      appId: APP_ID,
      accessToken: WABA_TOKEN,
    }),
  );
  ok(
    "bitrix app",
    await stack.admin("POST", "/api/admin/bitrix-apps", { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET }),
  );
  const { memberId } = bitrix.addPortal({
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    installed: true,
    ...portalInput,
  });
  const install = await fetch(`${stack.url}/api/bitrix/`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: bitrix.installEventBody(memberId),
  });
  if (install.status !== 200) throw new Error(`install failed: ${install.status} ${await install.text()}`);
  const phone = await stack.admin("POST", "/api/admin/phones", {
    phone: PHONE,
    phoneId: PHONE_ID,
    wabaId: WABA_ID,
    memberId,
    smsService: true,
  });
  ok("phone", phone);
  if ((phone.body as { connector: { status: string } }).connector.status !== "active") {
    throw new Error(`phone not connected: ${JSON.stringify(phone.body)}`);
  }
  return memberId;
}

/**
 * The portal's next `imconnector.send.messages` answers only after 1.5 s, and then with a 500 (its
 * messages are retried): the line's call stays out while a test's later messages reach the line.
 */
export function keepNextSendOut(bitrix: BitrixFake): void {
  bitrix.inject({
    match: "/rest/imconnector.send.messages",
    response: {
      status: 500,
      body: { error: "INTERNAL_SERVER_ERROR", error_description: "Internal server error" },
      delayMs: 1_500,
    },
  });
}

/** A fixture webhook re-addressed to our number (fixtures use Meta's placeholder ids). */
export function forOurNumber<T>(payload: T): T {
  const copy = structuredClone(payload) as {
    entry: { id: string; changes: { value: { metadata?: Record<string, string> } }[] }[];
  };
  for (const entry of copy.entry) {
    entry.id = WABA_ID;
    for (const change of entry.changes) {
      if (change.value.metadata) change.value.metadata.phone_number_id = PHONE_ID;
    }
  }
  return copy as T;
}

/** A text-messages webhook as Meta sends it, to our number: one change holding every message given. */
export function textWebhook(messages: { id: string; from: string; body: string; name?: string }[]) {
  const names = new Map(messages.map((m) => [m.from, m.name ?? "Customer"]));
  return {
    object: "whatsapp_business_account",
    entry: [
      {
        id: WABA_ID,
        changes: [
          {
            field: "messages",
            value: {
              messaging_product: "whatsapp",
              metadata: { display_phone_number: "15550783881", phone_number_id: PHONE_ID },
              contacts: [...names].map(([wa, name]) => ({ profile: { name }, wa_id: wa })),
              messages: messages.map((m) => ({
                from: m.from,
                id: m.id,
                timestamp: "1749416383",
                type: "text",
                text: { body: m.body },
              })),
            },
          },
        ],
      },
    ],
  };
}
