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
