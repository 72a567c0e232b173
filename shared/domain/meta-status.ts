import type { MetaStatus } from "../ports/meta-status.ts";

type Json = Record<string, unknown>;
const text = (v: unknown) => (typeof v === "string" && v ? v : undefined);

/**
 * The state an `account_update` or `phone_number_quality_update` change reports (fixtures
 * webhook_account_update_*.json, webhook_phone_number_quality_update.json), or undefined for other fields.
 */
export function metaStatusOf(
  field: string,
  wabaId: string,
  value: Json,
  entryTimeSeconds: number | undefined,
): MetaStatus | undefined {
  const event = text(value.event);
  if (!event) return undefined;
  const at = new Date((entryTimeSeconds ?? 0) * 1000).toISOString();
  if (field === "phone_number_quality_update") {
    const phoneDigits = text(value.display_phone_number)?.replace(/\D/g, "");
    if (!phoneDigits) return undefined;
    const limit = text(value.current_limit) ?? text(value.old_limit);
    return {
      wabaId,
      kind: "quality",
      phoneDigits,
      event,
      ...(limit ? { detail: `limit ${limit}` } : {}),
      at,
    };
  }
  if (field === "account_update") {
    const violation = text((value.violation_info as Json | undefined)?.violation_type);
    const ban = text((value.ban_info as Json | undefined)?.waba_ban_state);
    const detail = violation ?? ban;
    return { wabaId, kind: "account", event, ...(detail ? { detail } : {}), at };
  }
  return undefined;
}
