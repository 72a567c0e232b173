import { createHash } from "node:crypto";
import type { MetaWebhookEnvelope } from "../schemas/meta-webhook.ts";
import type { InboundEvent } from "./inbound-event.ts";

type Json = Record<string, unknown>;

const ITEM_ARRAYS = ["messages", "statuses", "calls", "contacts"] as const;

/**
 * Cuts a webhook into single events: every entry × change × message/status/call becomes one event,
 * and a change with none of those (template, account, quality updates, value-level errors) becomes one
 * event of its own. Nothing in the webhook is dropped.
 */
export function splitWebhookIntoEvents(envelope: MetaWebhookEnvelope, appId: string): InboundEvent[] {
  const events: InboundEvent[] = [];
  for (const entry of envelope.entry) {
    for (const change of entry.changes) {
      const value = change.value as Json;
      const common = withoutItemArrays(value);
      const contacts = arrayOf(value.contacts);
      const phoneNumberId = str((value.metadata as Json | undefined)?.phone_number_id);
      const base = { v: 1 as const, appId, wabaId: entry.id, field: change.field, phoneNumberId };
      const before = events.length;

      for (const message of arrayOf(value.messages)) {
        const customerId = str(message.from) ?? str(message.from_user_id);
        const contact =
          contacts.find((c) => matchesCustomer(c, message.from, message.from_user_id)) ?? contacts[0];
        events.push({
          ...base,
          id: `msg:${str(message.id) ?? contentId(entry.id, change.field, message)}`,
          kind: "message",
          customerId,
          timestamp: seconds(message.timestamp) ?? entry.time,
          value: { ...common, ...(contact ? { contacts: [contact] } : {}), messages: [message] },
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
        events.push({
          ...base,
          id: `field:${change.field}:${contentId(entry.id, change.field, { time: entry.time, value })}`,
          kind: "field",
          timestamp: entry.time,
          value,
        });
      }
    }
  }
  return events;
}

/** FIFO message group: one conversation (our number + the customer) or one account's field updates. */
export function messageGroupOf(event: InboundEvent): string {
  if (event.phoneNumberId && event.customerId) return `${event.phoneNumberId}:${event.customerId}`;
  return `${event.wabaId}:${event.field}`;
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
