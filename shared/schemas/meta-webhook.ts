// zod/mini: this schema sits on the webhook's hot path, where bundle size is cold-start time.
import * as z from "zod/mini";

/**
 * The outer shape of a Meta WhatsApp webhook. Only what routing needs is checked here; each message,
 * status or call inside is kept as Meta sent it (unknown keys included), so new fields are never lost.
 */
const change = z.looseObject({
  field: z.string().check(z.minLength(1)),
  value: z.looseObject({}),
});

export const metaWebhookEnvelope = z.looseObject({
  object: z.literal("whatsapp_business_account"),
  entry: z
    .array(
      z.looseObject({
        id: z.string().check(z.minLength(1)),
        time: z.optional(z.number()),
        changes: z.array(change),
      }),
    )
    .check(z.minLength(1)),
});

export type MetaWebhookEnvelope = z.infer<typeof metaWebhookEnvelope>;

/**
 * The same check as `metaWebhookEnvelope`, without zod's machinery: it runs on every webhook, where
 * zod's parse was a twelfth of the work. Zod still runs when this says no, to name the issues.
 */
export function isMetaWebhookEnvelope(body: unknown): body is MetaWebhookEnvelope {
  if (!isObject(body) || body.object !== "whatsapp_business_account") return false;
  const { entry } = body;
  if (!Array.isArray(entry) || entry.length === 0) return false;
  return entry.every(
    (e: unknown) =>
      isObject(e) &&
      isNonEmptyString(e.id) &&
      (e.time === undefined || Number.isFinite(e.time)) &&
      Array.isArray(e.changes) &&
      e.changes.every((c: unknown) => isObject(c) && isNonEmptyString(c.field) && isObject(c.value)),
  );
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);
const isNonEmptyString = (value: unknown): value is string => typeof value === "string" && value.length > 0;
