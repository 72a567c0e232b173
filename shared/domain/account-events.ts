/**
 * Account and compliance webhooks (`account_update`, `phone_number_quality_update`,
 * `message_template_status_update`, `message_template_quality_update`, `user_preferences`) read as one
 * event each: what happened, to which WABA / number / template / customer, how serious it is, and the
 * latest state it sets on the WABA or the number. Shapes: meta-whatsapp.md §7.1 and the fixtures.
 */

type Json = Record<string, unknown>;

export const ACCOUNT_EVENT_FIELDS = [
  "account_update",
  "phone_number_quality_update",
  "message_template_status_update",
  "message_template_quality_update",
  "user_preferences",
] as const;

export type AccountEventType = (typeof ACCOUNT_EVENT_FIELDS)[number];

export interface AccountEvent {
  /** The inbound event id: the same webhook redelivered is the same event. */
  readonly id: string;
  readonly type: AccountEventType;
  readonly wabaId: string;
  readonly phoneId?: string;
  /** Meta's `event` (e.g. `ACCOUNT_VIOLATION`, `REJECTED`, `FLAGGED`) or the preference (`stop`). */
  readonly event: string;
  /** A person must act (a ban, a restriction, a paused or rejected template, a quality drop). */
  readonly serious: boolean;
  /** One readable English sentence for people. */
  readonly summary: string;
  /** ISO time Meta stamped. */
  readonly at: string;
  /** Meta's `value`, as sent. */
  readonly detail: Json;
}

/** One part of the latest state: Meta's `event`, the sentence for people, and when Meta stamped it. */
export interface AccountStateEntry {
  readonly event: string;
  readonly summary: string;
  /** The short fact beside the event on the app's page: a violation type, a ban state, the messaging limit. */
  readonly detail?: string;
  readonly at: string;
}

/**
 * The latest account status, quality and restrictions of a WABA or a number: what the admin API shows and
 * the Bitrix24 app's numbers page lists next to each number.
 */
export interface AccountState {
  readonly status?: AccountStateEntry;
  readonly quality?: AccountStateEntry;
  readonly restrictions?: { items: unknown[]; at: string };
}

export function isAccountEventField(field: string): field is AccountEventType {
  return (ACCOUNT_EVENT_FIELDS as readonly string[]).includes(field);
}

const SERIOUS_ACCOUNT = new Set([
  "ACCOUNT_VIOLATION",
  "ACCOUNT_RESTRICTION",
  "DISABLED_UPDATE",
  "ACCOUNT_DELETED",
  "ACCOUNT_OFFBOARDED",
  "PARTNER_REMOVED",
  "PARTNER_APP_UNINSTALLED",
]);
const SERIOUS_TEMPLATE = new Set(["REJECTED", "PAUSED", "DISABLED", "FLAGGED", "LOCKED", "LIMIT_EXCEEDED"]);
const SERIOUS_QUALITY = new Set(["FLAGGED", "DOWNGRADE", "RED", "PAUSED"]);

/** Reads an account-type change; `undefined` for fields that are not account events. */
export function readAccountEvent(input: {
  id: string;
  field: string;
  wabaId: string;
  phoneId?: string;
  /** Unix seconds of the entry. */
  time?: number;
  value: Json;
}): AccountEvent | undefined {
  if (!isAccountEventField(input.field)) return undefined;
  const value = input.value;
  const at = new Date((input.time ?? Date.now() / 1000) * 1000).toISOString();
  const base = { id: input.id, type: input.field, wabaId: input.wabaId, at, detail: value };
  const phoneId = input.phoneId;
  switch (input.field) {
    case "account_update": {
      const event = str(value.event) ?? "UNKNOWN";
      return {
        ...base,
        ...(phoneId ? { phoneId } : {}),
        event,
        serious: SERIOUS_ACCOUNT.has(event),
        summary: accountSummary(event, value),
      };
    }
    case "phone_number_quality_update": {
      const event = str(value.event) ?? "UNKNOWN";
      const limit = messagingLimitOf(value);
      const display = str(value.display_phone_number);
      return {
        ...base,
        ...(phoneId ? { phoneId } : {}),
        event,
        serious: SERIOUS_QUALITY.has(event),
        summary: `${display ? `Number +${display}` : "Number"} quality update: ${event}${limit ? `, messaging limit ${limit}` : ""}.`,
      };
    }
    case "message_template_status_update": {
      const event = str(value.event) ?? "UNKNOWN";
      // `reason` is Meta's code (INVALID_FORMAT…), `rejection_info` explains it in words.
      const code = str(value.reason) !== "NONE" ? str(value.reason) : undefined;
      const why = str(obj(value.rejection_info)?.reason);
      const reason = code && why ? `${code}: ${why}` : (code ?? why);
      const recommendation = str(obj(value.rejection_info)?.recommendation);
      const info = str(obj(value.other_info)?.description) ?? str(obj(value.disable_info)?.disable_date);
      return {
        ...base,
        event,
        serious: SERIOUS_TEMPLATE.has(event),
        summary: [
          `Template ${templateName(value)}: ${event}`,
          reason ? `reason ${reason}` : undefined,
          recommendation,
          info,
        ]
          .filter(Boolean)
          .join("; ")
          .concat("."),
      };
    }
    case "message_template_quality_update": {
      const previous = str(value.previous_quality_score);
      const event = str(value.new_quality_score) ?? "UNKNOWN";
      return {
        ...base,
        event,
        serious: event === "RED" || event === "YELLOW",
        summary: `Template ${templateName(value)} quality: ${previous ? `${previous} → ` : ""}${event}.`,
      };
    }
    case "user_preferences": {
      const pref = objects(value.user_preferences)[0] ?? {};
      const event = str(pref.value) ?? "UNKNOWN";
      const who = str(pref.wa_id) ?? str(pref.user_id) ?? "a customer";
      return {
        ...base,
        ...(phoneId ? { phoneId } : {}),
        event,
        serious: false,
        summary: `${/^\d+$/.test(who) ? `+${who}` : who} ${event === "stop" ? "stopped" : event === "resume" ? "resumed" : `changed (${event})`} marketing messages.`,
      };
    }
  }
}

/** What an event changes in the latest state shown on the WABA or the number. */
export function stateChangeOf(
  event: AccountEvent,
): { subject: "waba" | "phone"; id: string; patch: AccountState } | undefined {
  const detail = stateDetailOf(event);
  const entry = { event: event.event, summary: event.summary, ...(detail ? { detail } : {}), at: event.at };
  if (event.type === "account_update") {
    const restrictions = objects(event.detail.restriction_info);
    return {
      subject: "waba",
      id: event.wabaId,
      patch: {
        status: entry,
        ...(event.event === "ACCOUNT_RESTRICTION"
          ? { restrictions: { items: restrictions, at: event.at } }
          : {}),
      },
    };
  }
  if (event.type === "phone_number_quality_update") {
    return event.phoneId
      ? { subject: "phone", id: event.phoneId, patch: { quality: entry } }
      : { subject: "waba", id: event.wabaId, patch: { quality: entry } };
  }
  return undefined;
}

function stateDetailOf(event: AccountEvent): string | undefined {
  const value = event.detail;
  if (event.type === "account_update")
    return str(obj(value.violation_info)?.violation_type) ?? str(obj(value.ban_info)?.waba_ban_state);
  if (event.type === "phone_number_quality_update") {
    const limit = messagingLimitOf(value) ?? str(value.old_limit);
    return limit ? `limit ${limit}` : undefined;
  }
  return undefined;
}

/** The number's messaging limit: a daily count in newer payloads, a tier (`TIER_1K`…) in older ones. */
function messagingLimitOf(value: Json): string | undefined {
  return str(value.max_daily_conversations_per_business) ?? str(value.current_limit);
}

/** The marketing preference a `user_preferences` change carries, for the customer it names. */
export function marketingPreferenceOf(
  value: Json,
): { phone?: string; userId?: string; value: "stop" | "resume"; at: string; detail?: string } | undefined {
  const pref = objects(value.user_preferences).find((p) => str(p.category) === "marketing_messages");
  const v = str(pref?.value);
  if (!pref || (v !== "stop" && v !== "resume")) return undefined;
  const ts = Number(pref.timestamp);
  const phone = str(pref.wa_id)?.replace(/\D/g, "");
  const userId = str(pref.user_id);
  const detail = str(pref.detail);
  return {
    ...(phone ? { phone } : {}),
    ...(userId ? { userId } : {}),
    value: v,
    at: new Date((Number.isFinite(ts) ? ts : Date.now() / 1000) * 1000).toISOString(),
    ...(detail ? { detail } : {}),
  };
}

function accountSummary(event: string, value: Json): string {
  const violation = obj(value.violation_info);
  const ban = obj(value.ban_info);
  const restrictions = objects(value.restriction_info)
    .map((r) => {
      const until = Number(r.expiration);
      const when =
        Number.isFinite(until) && until > 0 ? new Date(until * 1000).toISOString().slice(0, 10) : undefined;
      return [str(r.restriction_type), when].filter(Boolean).join(" until ");
    })
    .filter(Boolean);
  switch (event) {
    case "ACCOUNT_VIOLATION":
      return `WhatsApp account violation: ${str(violation?.violation_type) ?? "unspecified"}.`;
    case "ACCOUNT_RESTRICTION":
      return `WhatsApp account restricted${restrictions.length ? `: ${restrictions.join(", ")}` : ""}.`;
    case "DISABLED_UPDATE":
      return `WhatsApp account ${str(ban?.waba_ban_state) ?? "disabled"}${str(ban?.waba_ban_date) ? ` since ${str(ban?.waba_ban_date)}` : ""}.`;
    case "ACCOUNT_DELETED":
      return "WhatsApp account deleted.";
    case "ACCOUNT_OFFBOARDED":
      return "WhatsApp account offboarded from this solution.";
    case "PARTNER_REMOVED":
      return "This solution was removed as a partner of the WhatsApp account.";
    default:
      return `WhatsApp account update: ${event}.`;
  }
}

function templateName(value: Json): string {
  const name = str(value.message_template_name) ?? String(value.message_template_id ?? "?");
  const lang = str(value.message_template_language);
  return lang ? `${name} (${lang})` : name;
}

function str(v: unknown): string | undefined {
  return typeof v === "string" && v.trim() ? v.trim() : typeof v === "number" ? String(v) : undefined;
}

function obj(v: unknown): Json | undefined {
  return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Json) : undefined;
}

function objects(v: unknown): Json[] {
  return Array.isArray(v) ? v.filter((x): x is Json => typeof x === "object" && x !== null) : [];
}
