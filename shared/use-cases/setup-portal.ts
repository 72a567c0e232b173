import { BOUND_EVENTS, CONNECTOR_ICON, CONNECTOR_ID, CONNECTOR_NAME } from "../domain/bitrix-connector.ts";
import type { BitrixGateway } from "../ports/bitrix.ts";
import type { PortalRecord } from "../ports/bitrix-store.ts";

export function eventHandlerUrl(portal: PortalRecord): string {
  return `${portal.handlerBaseUrl}/api/bitrix/?h=${encodeURIComponent(portal.handlerSecret)}`;
}

export function smsHandlerUrl(portal: PortalRecord): string {
  return `${portal.handlerBaseUrl}/api/bitrix/sms/?h=${encodeURIComponent(portal.handlerSecret)}`;
}

/**
 * What a portal needs from us, done so it can be repeated (install, app update, retry):
 * 1. Bind our events to our handler URL — only those not bound yet; stale bindings of ours are removed.
 * 2. Register the connector (Bitrix24 updates it when the id exists). Flags go as JSON booleans: the
 *    server reads only `=== true` / `=== false`.
 * Returns the problem as text, or null.
 */
export async function setUpPortal(bitrix: BitrixGateway, portal: PortalRecord): Promise<string | null> {
  try {
    const handler = eventHandlerUrl(portal);
    const bound = await bitrix.call<{ event: string; handler: string }[]>(portal.memberId, "event.get");
    const ours = new Set<string>(BOUND_EVENTS);
    const calls: Record<string, { method: string; params: Record<string, unknown> }> = {};
    for (const b of bound ?? []) {
      const event = String(b.event).toUpperCase();
      if (ours.has(event) && b.handler !== handler && b.handler.includes("/api/bitrix/")) {
        calls[`unbind_${event}_${Object.keys(calls).length}`] = {
          method: "event.unbind",
          params: { event, handler: b.handler },
        };
      }
    }
    for (const event of BOUND_EVENTS) {
      if (!bound?.some((b) => String(b.event).toUpperCase() === event && b.handler === handler)) {
        calls[`bind_${event}`] = { method: "event.bind", params: { event, handler } };
      }
    }
    if (Object.keys(calls).length > 0) {
      const { errors } = await bitrix.batch(portal.memberId, calls);
      const real = Object.entries(errors).filter(([, e]) => !/already bind/i.test(e.error_description ?? ""));
      if (real.length > 0)
        return `event binding failed: ${real.map(([k, e]) => `${k}: ${e.error} ${e.error_description ?? ""}`.trim()).join("; ")}`;
    }
    const registered = await bitrix.call<{ result?: boolean; error?: string; error_description?: string }>(
      portal.memberId,
      "imconnector.register",
      {
        ID: CONNECTOR_ID,
        NAME: CONNECTOR_NAME,
        ICON: { DATA_IMAGE: CONNECTOR_ICON, COLOR: "#25D366" },
        PLACEMENT_HANDLER: `${portal.handlerBaseUrl}/api/bitrix/?h=${encodeURIComponent(portal.handlerSecret)}&view=settings`,
        // Bitrix's automatic messages (greetings, "rate the dialog") would reach WhatsApp customers,
        // where outside the 24-hour window they fail; operators' own messages are what we deliver.
        NEED_SYSTEM_MESSAGES: false,
        CHAT_GROUP: false,
      },
    );
    if (registered?.result === false) {
      return `connector registration failed: ${registered.error ?? ""} ${registered.error_description ?? ""}`.trim();
    }
    return null;
  } catch (error) {
    return (error as Error).message;
  }
}
