import * as z from "zod";

/** Request and response shapes of the admin API. The OpenAPI document is generated from these. */

export const DEFAULT_GRAPH_API_VERSION = "v25.0";

const hostName = z
  .string()
  .trim()
  .toLowerCase()
  .regex(
    /^(?:(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?|\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-f:.]+\])$/,
    "must be a host name or IP literal without scheme, port or path (e.g. example.com)",
  );

const graphApiVersion = z.string().regex(/^v\d+\.\d+$/, "must look like v25.0");
const id = (what: string) =>
  z
    .string()
    .trim()
    .regex(/^\d{1,32}$/, `${what} must be Meta's numeric id`);
const secret = z.string().min(8).max(4096);

export const appCreateBody = z.strictObject({
  appId: id("appId"),
  name: z.string().trim().min(1).max(200),
  appSecret: secret,
  domains: z.array(hostName).max(50).default([]),
  graphApiVersion: graphApiVersion.default(DEFAULT_GRAPH_API_VERSION),
});

export const appPatchBody = z.strictObject({
  name: z.string().trim().min(1).max(200).optional(),
  appSecret: secret.optional(),
  domains: z.array(hostName).max(50).optional(),
  graphApiVersion: graphApiVersion.optional(),
});

export const appView = z.object({
  appId: z.string(),
  name: z.string(),
  domains: z.array(z.string()),
  graphApiVersion: z.string(),
  verifyToken: z.string().describe("Paste into Meta's Configuration → Verify token"),
  webhookUrls: z
    .array(z.string())
    .describe("Callback URLs for Meta's Configuration (by host, or with app_id)"),
  createdAt: z.string(),
  updatedAt: z.string(),
});

export const wabaCreateBody = z.strictObject({
  wabaId: id("wabaId"),
  name: z.string().trim().min(1).max(200),
  appId: id("appId"),
  accessToken: secret,
  businessId: id("businessId")
    .optional()
    .describe(
      "The Meta business portfolio that owns the WABA: customers' business-scoped user ids are the same " +
        "across its WABAs, so one customer stays one chat across them. Set once, at creation.",
    ),
});

export const wabaPatchBody = z.strictObject({
  name: z.string().trim().min(1).max(200).optional(),
  appId: id("appId").optional(),
  accessToken: secret.optional(),
});

const stateEntry = z.object({
  event: z.string(),
  summary: z.string(),
  detail: z.string().optional().describe("violation type, ban state or messaging limit, when Meta named one"),
  at: z.string(),
});

/** The latest account status, quality and restrictions Meta reported (account and quality webhooks). */
export const accountStateView = z
  .object({
    status: stateEntry
      .optional()
      .describe("latest account_update (violation, restriction, disable, deletion…)"),
    quality: stateEntry.optional().describe("latest phone_number_quality_update"),
    restrictions: z.object({ items: z.array(z.unknown()), at: z.string() }).optional(),
  })
  .describe("What Meta last said about the account; {} until it said anything");

export const accountEventView = z.object({
  id: z.string(),
  type: z.enum([
    "account_update",
    "phone_number_quality_update",
    "message_template_status_update",
    "message_template_quality_update",
    "user_preferences",
  ]),
  wabaId: z.string(),
  phoneId: z.string().optional(),
  event: z.string().describe("Meta's event, e.g. ACCOUNT_VIOLATION, REJECTED, or the preference stop/resume"),
  serious: z.boolean().describe("true: the portal administrators were notified in Bitrix24"),
  summary: z.string(),
  at: z.string(),
  detail: z.record(z.string(), z.unknown()).describe("Meta's value, as sent"),
});

export const accountEventQuery = z.object({
  wabaId: z.string().optional(),
  phoneId: z.string().optional(),
  type: accountEventView.shape.type.optional(),
  cursor: z.string().optional(),
  limit: z.coerce.number().int().min(1).max(100).default(50),
});

export const historyBody = z.object({
  enabled: z.boolean().describe("true: import the WhatsApp Business app history Meta sends for this number"),
  maxMessages: z.number().int().min(1).max(1_000_000).default(5000).describe("at most this many messages"),
});

export const historyView = z.object({
  enabled: z.boolean(),
  maxMessages: z.number().int(),
  imported: z.number().int().describe("messages imported so far"),
  progress: z.number().optional().describe("Meta's progress of the history sync, 0–100"),
  phase: z.number().optional().describe("Meta's phase: 0 day 0–1, 1 day 1–90, 2 day 90–180"),
  error: z
    .object({ code: z.number().optional(), message: z.string() })
    .optional()
    .describe("Meta's error when the business declined to share its history"),
  updatedAt: z.string(),
});

export const wabaView = z.object({
  wabaId: z.string(),
  name: z.string(),
  appId: z.string(),
  businessId: z.string().optional(),
  verifyToken: z.string().describe("The verify token of the WABA's app"),
  subscribed: z.boolean().describe("Whether the app is subscribed to the WABA's webhooks"),
  subscribeError: z.object({ code: z.number().optional(), message: z.string() }).nullable(),
  tokenStatus: z
    .enum(["valid", "invalid", "unknown"])
    .describe("invalid: Meta rejected the token (code 190)"),
  accountState: accountStateView.optional(),
  createdAt: z.string(),
  updatedAt: z.string(),
});

export const listQuery = z.object({
  cursor: z.string().optional(),
  limit: z.coerce.number().int().min(1).max(100).default(50),
});

export const errorBody = z.object({
  error: z.object({ code: z.string(), message: z.string(), details: z.unknown().optional() }),
});

export type AppCreateBody = z.infer<typeof appCreateBody>;
export type AppPatchBody = z.infer<typeof appPatchBody>;
export type AppView = z.infer<typeof appView>;
export type WabaCreateBody = z.infer<typeof wabaCreateBody>;
export type WabaPatchBody = z.infer<typeof wabaPatchBody>;
export type WabaView = z.infer<typeof wabaView>;

export const bitrixAppCreateBody = z.strictObject({
  clientId: z
    .string()
    .trim()
    .regex(/^[\w.-]{3,128}$/, "must be the app's client_id, e.g. local.5f1a2b3c4d5e6f.12345678"),
  clientSecret: secret,
  name: z.string().trim().min(1).max(200).optional(),
});

export const bitrixAppView = z.object({
  clientId: z.string(),
  name: z.string(),
  handlerUrl: z.string().describe('Paste into Bitrix24 as "Your handler path"'),
  installUrl: z.string().describe('Paste into Bitrix24 as "Initial installation path"'),
  scopes: z.array(z.string()).describe("Permissions to tick in Bitrix24"),
  createdAt: z.string(),
  updatedAt: z.string(),
});

export const portalView = z.object({
  memberId: z.string(),
  domain: z.string(),
  clientId: z.string(),
  status: z.enum(["installed", "uninstalled"]),
  licenseFamily: z.string().optional(),
  setupError: z.string().nullable().describe("Why event binding or connector registration failed, if it did"),
  awaitingApplicationToken: z
    .literal(true)
    .optional()
    .describe("Installed from the install page; its events are refused until ONAPPINSTALL brings the token"),
  installedAt: z.string(),
  updatedAt: z.string(),
});

const phoneNumber = z.string().trim().min(8).max(32);

export const phoneCreateBody = z.strictObject({
  phone: phoneNumber,
  phoneId: id("phoneId"),
  wabaId: id("wabaId"),
  memberId: z.string().trim().min(1).max(64),
  smsService: z.boolean().default(false),
  readReceipts: z
    .boolean()
    .default(true)
    .describe("Mark the customer's last message as read when an operator replies"),
  typingIndicator: z
    .boolean()
    .default(false)
    .describe(
      "Show the customer a typing indicator with each reply (needs readReceipts: Meta sends both in one call)",
    ),
});

export const phonePatchBody = z.strictObject({
  phone: phoneNumber.optional(),
  wabaId: id("wabaId").optional(),
  memberId: z.string().trim().min(1).max(64).optional(),
  smsService: z.boolean().optional(),
  readReceipts: z.boolean().optional(),
  typingIndicator: z.boolean().optional(),
});

export const phoneView = z.object({
  phone: z.string(),
  phoneId: z.string(),
  wabaId: z.string(),
  memberId: z.string(),
  smsService: z.boolean(),
  readReceipts: z.boolean(),
  typingIndicator: z.boolean(),
  line: z.object({ id: z.number(), name: z.string() }).nullable(),
  connector: z.object({ status: z.enum(["active", "pending", "error"]), error: z.string().optional() }),
  smsSender: z
    .object({ code: z.string(), status: z.enum(["registered", "error"]), error: z.string().optional() })
    .nullable(),
  // Lazy: the calling schemas are defined further down with the rest of the calling API.
  calling: z.lazy(() => callingSettingsView),
  accountState: accountStateView.optional(),
  createdAt: z.string(),
  updatedAt: z.string(),
});

export type BitrixAppCreateBody = z.infer<typeof bitrixAppCreateBody>;
export type PhoneCreateBody = z.infer<typeof phoneCreateBody>;
export type PhonePatchBody = z.infer<typeof phonePatchBody>;

export const deadLetterView = z.object({
  id: z.string(),
  queue: z.string().describe("Queue it came from and goes back to on redrive, e.g. inbound"),
  reason: z.string(),
  attempts: z.number().int().describe("Receives before it was given up"),
  failedAt: z.string(),
  source: z
    .enum(["worker", "dlq"])
    .describe(
      "worker: a worker gave up with a reason; dlq: SQS moved it after max receives (crash, timeout)",
    ),
  messageGroupId: z.string().optional(),
  orderKey: z
    .string()
    .optional()
    .describe(
      "Its place in its message group (the SQS sequence number it first had): redrive sends a group in this order",
    ),
  waitingBehind: z
    .string()
    .optional()
    .describe(
      "Parked, not failed: the dead letter of its conversation it waits behind; it goes with a redrive, after that one",
    ),
  message: z.unknown().optional().describe("The queue message body, parsed (when it is JSON)"),
  body: z.string().optional().describe("The queue message body as text, when it is not JSON"),
});

export const unroutedView = z.object({
  phoneNumberId: z
    .string()
    .describe("The phone_number_id Meta's webhooks named; no phone is configured for it"),
  wabaId: z.string().optional(),
  events: z.number().int().describe("Webhook changes received for it (dropped at the webhook, never queued)"),
  lastEventId: z.string().describe("The last one's webhook field (messages, …)"),
  lastAt: z.string(),
});

export const deadLetterRedriveBody = z.strictObject({
  ids: z
    .array(z.string().trim().min(1).max(256))
    .min(1)
    .max(1000)
    .optional()
    .describe("Dead letters to send back; omitted: all of them"),
});

export const deadLetterRedriveResult = z.object({
  redriven: z.array(z.string()).describe("Sent back to their queue and removed"),
  failed: z.array(z.object({ id: z.string(), error: z.string() })).describe("Kept (or not found), with why"),
});

export type DeadLetterView = z.infer<typeof deadLetterView>;
export type DeadLetterRedriveBody = z.infer<typeof deadLetterRedriveBody>;

const templateComponent = z
  .looseObject({
    type: z.string().describe("HEADER, BODY, FOOTER, BUTTONS, …"),
    format: z.string().optional(),
    text: z.string().optional(),
    example: z.unknown().optional(),
    buttons: z.array(z.looseObject({ type: z.string(), text: z.string().optional() })).optional(),
  })
  .describe("As Meta lists it");

export const templateView = z.object({
  name: z.string(),
  language: z.string().describe("Meta's code, e.g. en_US"),
  status: z.string().describe("APPROVED, PENDING, REJECTED, PAUSED, DISABLED, …; only APPROVED can be sent"),
  category: z.string().optional().describe("MARKETING, UTILITY or AUTHENTICATION"),
  shortcode: z
    .string()
    .describe("What an operator types to send it, e.g. template-order_update+en_US+<1>|<2>; fill the <…>"),
  components: z.array(templateComponent),
});

export const templateList = z.object({
  items: z.array(templateView).describe("APPROVED first, then the others; each group by name and language"),
});

export const templateListQuery = z.object({
  status: z
    .string()
    .trim()
    .regex(/^[a-z_]{1,32}$/i, "must be all or a template status such as APPROVED")
    .transform((s) => s.toUpperCase())
    .default("ALL")
    .describe("all (default) or one status, e.g. APPROVED"),
  refresh: z
    .enum(["true", "false"])
    .default("false")
    .transform((v) => v === "true")
    .describe("true: read Meta's current list instead of the cached one (up to an hour old)"),
});

export type TemplateView = z.infer<typeof templateView>;

const onOff = z.enum(["enabled", "disabled"]);

export const callingSettingsBody = z.strictObject({
  calling: onOff.describe("Calls on this number (Meta's calling.status)"),
  sip: z.strictObject({
    status: onOff.describe("enabled: Meta sends the number's calls to the SIP server over TLS"),
    host: hostName
      .max(253)
      .optional()
      .describe(
        "The SIP server (TLS), a host name or IP without scheme, port or path, e.g. sip.example.com; " +
          "omitted: the one configured before (required the first time SIP is enabled)",
      ),
    port: z
      .number()
      .int()
      .min(1)
      .max(65535)
      .optional()
      .describe("TLS port (5061 when no server was configured)"),
  }),
});

export const callingSettingsView = z.object({
  calling: onOff,
  sip: z.object({
    status: onOff,
    host: z.string().nullable().describe("null: no SIP server configured yet"),
    port: z.number().int(),
  }),
  error: z
    .object({
      code: z.number().nullable().describe("Meta's error code; null when Meta could not be reached"),
      message: z.string(),
      details: z.string().optional().describe("Meta's error_data.details"),
    })
    .nullable()
    .describe("Why Meta refused the settings (the stored ones are still what was asked); null: applied"),
  updatedAt: z.string().nullable().describe("Last PUT; null: never set through this API"),
});

export type CallingSettingsBody = z.infer<typeof callingSettingsBody>;
export type CallingSettingsView = z.infer<typeof callingSettingsView>;
