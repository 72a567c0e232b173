import { createHash } from "node:crypto";
import type { MetaWebhookEnvelope } from "../schemas/meta-webhook.ts";
import type { InboundEvent } from "./inbound-event.ts";

type Json = Record<string, unknown>;

const ITEM_ARRAYS = ["messages", "statuses", "calls", "contacts", "message_echoes"] as const;

/**
 * Cuts a webhook into single events: every entry × change × message/status/call becomes one event,
 * and a change with none of those (template, account, quality updates, value-level errors) becomes one
 * event of its own. Nothing in the webhook is dropped.
 */
export function splitWebhookIntoEvents(envelope: MetaWebhookEnvelope, appId: string): InboundEvent[] {
  const events: InboundEvent[] = [];
  for (const entry of envelope.entry) {
    for (const change of entry.changes) {
      const value = standbyFlattened(change.field, change.value as Json);
      const common = withoutItemArrays(value);
      const contacts = arrayOf(value.contacts);
      const handover = change.field === "messaging_handovers";
      const phoneNumberId = numberOf(change.field, value);
      const base = { v: 1 as const, appId, wabaId: entry.id, field: change.field, phoneNumberId };
      const before = events.length;

      for (const message of arrayOf(value.messages)) {
        // A change of user id names the customer only by the id it had before.
        const previousUserId = str((message.system as Json | undefined)?.previous_user_id);
        const customerId = str(message.from) ?? str(message.from_user_id) ?? previousUserId;
        const contact =
          contacts.find((c) => matchesCustomer(c, message.from, message.from_user_id)) ?? contacts[0];
        const customerUserId = str(message.from_user_id) ?? str(contact?.user_id) ?? previousUserId;
        events.push({
          ...base,
          id: `msg:${str(message.id) ?? contentId(entry.id, change.field, message)}`,
          kind: "message",
          customerId,
          ...(customerUserId ? { customerUserId } : {}),
          timestamp: seconds(message.timestamp) ?? entry.time,
          value: { ...common, ...(contact ? { contacts: [contact] } : {}), messages: [message] },
        });
      }

      // What the business typed in the WhatsApp Business app (coexistence): to the customer, from us.
      for (const echo of arrayOf(value.message_echoes)) {
        const customerId = str(echo.to) ?? str(echo.to_user_id);
        const contact = contacts.find((c) => matchesCustomer(c, echo.to, echo.to_user_id)) ?? contacts[0];
        const customerUserId = str(echo.to_user_id) ?? str(contact?.user_id);
        events.push({
          ...base,
          id: `echo:${str(echo.id) ?? contentId(entry.id, change.field, echo)}`,
          kind: "echo",
          customerId,
          ...(customerUserId ? { customerUserId } : {}),
          timestamp: seconds(echo.timestamp) ?? entry.time,
          value: { ...common, ...(contact ? { contacts: [contact] } : {}), message_echoes: [echo] },
        });
      }

      for (const status of arrayOf(value.statuses)) {
        const isCall = status.type === "call";
        const id = str(status.id) ?? contentId(entry.id, change.field, status);
        events.push({
          ...base,
          id: `${isCall ? "callstatus" : "status"}:${id}:${String(status.status ?? "").toLowerCase()}`,
          kind: isCall ? "call" : "status",
          customerId: str(status.recipient_id) ?? str(status.recipient_user_id),
          ...(str(status.recipient_user_id) ? { customerUserId: str(status.recipient_user_id) } : {}),
          timestamp: seconds(status.timestamp) ?? entry.time,
          value: { ...common, statuses: [status] },
        });
      }

      for (const call of arrayOf(value.calls)) {
        const customer = call.direction === "BUSINESS_INITIATED" ? call.to : call.from;
        const contact = contacts.find((c) => matchesCustomer(c, customer, undefined)) ?? contacts[0];
        events.push({
          ...base,
          id: `call:${str(call.id) ?? contentId(entry.id, change.field, call)}:${String(call.event ?? "")}`,
          kind: "call",
          customerId: str(customer),
          timestamp: seconds(call.timestamp) ?? entry.time,
          value: { ...common, ...(contact ? { contacts: [contact] } : {}), calls: [call] },
        });
      }

      if (events.length === before) {
        const sender = handover ? (value.sender as Json | undefined) : undefined;
        const customerId = str(sender?.phone_number) ?? str(sender?.user_id);
        events.push({
          ...base,
          id: `field:${change.field}:${contentId(entry.id, change.field, { time: entry.time, value })}`,
          kind: "field",
          ...(customerId ? { customerId } : {}),
          timestamp: seconds(value.timestamp) ?? entry.time,
          value,
        });
      }
    }
  }
  return events;
}

/**
 * FIFO message group: one conversation (our number + the customer) or one account's field updates. The
 * BSUID, when Meta sends one, names the customer whether or not the phone came too, so a customer's
 * messages with and without the phone stay in one group.
 */
export function messageGroupOf(event: InboundEvent): string {
  const customer = event.customerUserId ?? event.customerId;
  if (event.phoneNumberId && customer) return `${event.phoneNumberId}:${customer}`;
  return `${event.wabaId}:${event.field}`;
}

/**
 * The number a change's events are for, as the webhook checks it against the signing app's WABA: its
 * `metadata.phone_number_id` (a standby's inner one, which the split reads), or a handover's `recipient`
 * (a handover names our number there and the customer in `sender`; it has no metadata).
 */
export function phoneNumberIdOfChange(field: string, value: unknown): string | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  return numberOf(field, standbyFlattened(field, value as Json));
}

function numberOf(field: string, flattened: Json): string | undefined {
  return (
    str((flattened.metadata as Json | undefined)?.phone_number_id) ??
    (field === "messaging_handovers"
      ? str((flattened.recipient as Json | undefined)?.phone_number_id)
      : undefined)
  );
}

/**
 * Messages that arrive while another app (e.g. Meta's business agent) owns the thread come on the
 * `standby` field. Sources differ on the shape: the `messages` field's own (`value.messages[]`), or the
 * items wrapped in `value.standby` (`{messages|message_echoes: [...]}`); both are read the same way.
 */
function standbyFlattened(field: string, value: Json): Json {
  if (field !== "standby") return value;
  const inner = value.standby;
  if (typeof inner !== "object" || inner === null || Array.isArray(inner)) return value;
  const { standby: _standby, ...rest } = value;
  return { ...rest, ...(inner as Json) };
}

function withoutItemArrays(value: Json): Json {
  const rest: Json = {};
  for (const [key, v] of Object.entries(value)) {
    if (!(ITEM_ARRAYS as readonly string[]).includes(key)) rest[key] = v;
  }
  return rest;
}

function matchesCustomer(contact: Json, waId: unknown, userId: unknown): boolean {
  return (
    (waId !== undefined && contact.wa_id === waId) || (userId !== undefined && contact.user_id === userId)
  );
}

function arrayOf(v: unknown): Json[] {
  return Array.isArray(v) ? v.filter((x): x is Json => typeof x === "object" && x !== null) : [];
}

function str(v: unknown): string | undefined {
  return typeof v === "string" && v.length > 0 ? v : typeof v === "number" ? String(v) : undefined;
}

function seconds(v: unknown): number | undefined {
  const n = typeof v === "string" ? Number(v) : v;
  return typeof n === "number" && Number.isFinite(n) ? n : undefined;
}

/** A stable id for items Meta gave none: the same webhook redelivered yields the same id. */
function contentId(wabaId: string, field: string, item: unknown): string {
  return createHash("sha256")
    .update(`${wabaId}\n${field}\n${JSON.stringify(item)}`)
    .digest("hex")
    .slice(0, 32);
}
