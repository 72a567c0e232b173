import { z } from "zod";

/**
 * The outer shape of a Meta WhatsApp webhook. Only what routing needs is checked here; each message,
 * status or call inside is kept as Meta sent it (unknown keys included), so new fields are never lost.
 */
const change = z.looseObject({
  field: z.string().min(1),
  value: z.looseObject({}),
});

export const metaWebhookEnvelope = z.looseObject({
  object: z.literal("whatsapp_business_account"),
  entry: z
    .array(
      z.looseObject({
        id: z.string().min(1),
        time: z.number().optional(),
        changes: z.array(change),
      }),
    )
    .min(1),
});

export type MetaWebhookEnvelope = z.infer<typeof metaWebhookEnvelope>;
