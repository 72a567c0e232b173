import { BUSINESS_APP_MARKER, describeInboundMessage, type InboundMedia } from "../domain/inbound-content.ts";
import type { InboundEvent } from "../domain/inbound-event.ts";
import type { BitrixGateway } from "../ports/bitrix.ts";
import type { Clock } from "../ports/clock.ts";
import type { ConversationStore } from "../ports/conversations.ts";
import type { HistoryStore } from "../ports/history.ts";
import type { CustomerDirectory } from "./customer-directory.ts";
import type { Customer, InboundOutcome } from "./deliver-inbound.ts";
import { type Attempt, type LineMessage, RetryLaterError, type Route } from "./line-sender.ts";

type Json = Record<string, unknown>;

/** History messages one queue delivery imports before handing the rest to the next delivery. */
const HISTORY_MESSAGES_PER_ATTEMPT = 200;

/** What coexistence needs of the inbound flow it is part of. */
export interface CoexistenceContext {
  readonly conversations: ConversationStore;
  readonly history: HistoryStore;
  readonly bitrix: BitrixGateway;
  readonly clock: Clock;
  readonly directory: CustomerDirectory;
  readonly routeOf: (event: InboundEvent) => Promise<Route | string>;
  readonly sendToLine: (
    route: Route,
    who: Customer,
    message: LineMessage,
    attempt: Attempt,
  ) => Promise<InboundOutcome>;
  readonly fetchMedia: (
    event: InboundEvent,
    item: InboundMedia,
    wamid: string,
  ) => Promise<{ url: string; name: string }>;
  readonly paced: (memberId: string) => Promise<void>;
}

/**
 * The WhatsApp Business app and Cloud API on one number (coexistence): what the business types in the app
 * (echoes), the app's chat history, and its contact names.
 */
export function makeCoexistence(ctx: CoexistenceContext) {
  const { conversations, history, bitrix, clock, directory, routeOf, sendToLine, fetchMedia, paced } = ctx;

  /**
   * What the business typed in the WhatsApp Business app (coexistence) goes on the business's side of
   * the chat: a system message (`im.message.add`, `SYSTEM: Y`) in the customer's Open Lines chat, which
   * Bitrix24 does not hand back to the connector (registered with NEED_SYSTEM_MESSAGES false). Before the
   * customer's first message there is no chat to write in: the echo then opens it through the connector,
   * marked as the business's. Claimed like a message, so each echo shows once.
   */
  async function deliverEcho(
    event: InboundEvent,
    route: Route,
    who: Customer,
    attempt: Attempt,
  ): Promise<InboundOutcome> {
    const echo = ((event.value.message_echoes as Json[] | undefined) ?? [])[0] ?? {};
    const wamid = String(echo.id ?? event.id);
    const content = describeInboundMessage(echo);
    const lines = [`${BUSINESS_APP_MARKER} ${content.text}`];
    const files: { url: string; name: string }[] = [];
    if (content.media) {
      try {
        const file = await fetchMedia(event, content.media, wamid);
        files.push(file);
        lines.push(`${file.name}: ${file.url}`);
      } catch (error) {
        if (!attempt.last && (error as { transient?: boolean }).transient !== false) throw error;
        lines.push(`[i]The file (${content.media.fileName}) could not be fetched from WhatsApp[/i]`);
      }
    }
    const text = lines.join("\n");
    const id = `echo:${wamid}`;
    const key = who.known?.key ?? "";
    // The chat the customer's latest message went into.
    const chatId = event.phoneNumberId
      ? (await conversations.latestInbound(event.phoneNumberId, key))?.chatId
      : undefined;
    const date = event.timestamp ?? Math.floor(clock.now().getTime() / 1000);
    if (!chatId) return sendToLine(route, who, { id, date, text, files }, attempt);

    // Like a message into the line: a delivered marker makes a redelivery a duplicate (the FIFO group
    // keeps the conversation in one worker at a time, so nothing is claimed before the call).
    if ((await conversations.inboundState(id)) === "delivered") return "duplicate";
    await paced(route.portal.memberId);
    await bitrix.call(route.portal.memberId, "im.message.add", {
      DIALOG_ID: `chat${chatId}`,
      MESSAGE: text,
      SYSTEM: "Y",
    });
    await conversations.markInboundDelivered(id, { chat: chatId, attempt: attempt.number });
    return "delivered";
  }

  /**
   * Coexistence `history` (up to 180 days of the WhatsApp Business app's chats, sent once on onboarding):
   * imported only when the number's switch is on (`PUT /api/admin/phones/{id}/history`), within its budget
   * of messages. Each message goes in like a live one, under the same claim (its wamid; `echo:` + wamid
   * for the business's), so a message already shown is not shown again, and a chunk cut short by a crash or
   * by the per-attempt bound continues where it stopped on the queue's next delivery. History does not
   * move the 24-hour window.
   */
  async function importHistory(event: InboundEvent, queued: Attempt): Promise<InboundOutcome> {
    // A chunk sends many messages, one after another: its queue's next record (the next chunk) may start
    // only once the whole chunk is done, not when its first message is queued.
    const { handOff: _afterTheWholeChunk, ...attempt } = queued;
    const route = await routeOf(event);
    if (typeof route === "string") return "unrouted";
    const phoneId = route.phone.phoneId;
    const value = event.value as Json;
    // The contents of a media message come later, as a `messages` item on the `history` field.
    const chunks: Json[] = Array.isArray(value.history)
      ? (value.history as Json[])
      : [{ threads: [{ id: event.customerId, messages: (value.messages as Json[] | undefined) ?? [] }] }];
    for (const chunk of chunks) await recordHistoryProgress(phoneId, chunk);
    const settings = await history.getHistorySettings(phoneId);
    if (!settings?.enabled) return "recorded";
    const scope = await directory.scopeOf(event.wabaId);
    let done = 0;
    for (const chunk of chunks) {
      for (const thread of (chunk.threads as Json[] | undefined) ?? []) {
        const customer = typeof thread.id === "string" ? thread.id.replace(/\D/g, "") : "";
        const known = customer ? await directory.resolve(scope, { phone: customer }) : undefined;
        if (!known) continue;
        const who: Customer = { scope, seen: {}, known };
        const messages = [...((thread.messages as Json[] | undefined) ?? [])].sort(
          (a, b) => Number(a.timestamp ?? 0) - Number(b.timestamp ?? 0),
        );
        for (const message of messages) {
          if (done >= HISTORY_MESSAGES_PER_ATTEMPT) {
            throw new RetryLaterError(
              `history of ${phoneId}: ${done} imported in this attempt, the rest follows`,
            );
          }
          if (!(await history.takeHistoryBudget(phoneId))) return "recorded";
          let outcome: InboundOutcome;
          try {
            outcome = await importHistoryMessage(event, route, who, message, customer, attempt);
          } catch (error) {
            await history.returnHistoryBudget(phoneId);
            throw error;
          }
          if (outcome === "duplicate") await history.returnHistoryBudget(phoneId);
          else done++;
        }
      }
    }
    return "delivered";
  }

  async function recordHistoryProgress(phoneId: string, chunk: Json): Promise<void> {
    const meta = (chunk.metadata ?? {}) as Json;
    const error = ((chunk.errors as Json[] | undefined) ?? [])[0];
    await history.recordHistoryProgress(
      phoneId,
      {
        ...(typeof meta.progress === "number" ? { progress: meta.progress } : {}),
        ...(typeof meta.phase === "number" ? { phase: meta.phase } : {}),
        ...(error
          ? {
              error: {
                ...(typeof error.code === "number" ? { code: error.code } : {}),
                message: String(error.message ?? error.title ?? "history not shared"),
              },
            }
          : {}),
      },
      clock.now().toISOString(),
    );
  }

  /** One history message: the customer's on their side of the chat, the business's on ours (an echo). */
  async function importHistoryMessage(
    event: InboundEvent,
    route: Route,
    who: Customer,
    message: Json,
    customer: string,
    attempt: Attempt,
  ): Promise<InboundOutcome> {
    const wamid = String(message.id ?? "");
    // `to` is only present on the business's own messages (an SMB message echo).
    const fromBusiness =
      message.to !== undefined || String(message.from ?? "").replace(/\D/g, "") !== customer;
    const timestamp = Number(message.timestamp) || event.timestamp;
    const item: InboundEvent = { ...event, id: `history:${wamid}`, ...(timestamp ? { timestamp } : {}) };
    if (fromBusiness)
      return deliverEcho({ ...item, value: { message_echoes: [message] } }, route, who, attempt);
    const content = describeInboundMessage(message);
    return sendToLine(
      route,
      who,
      {
        id: wamid,
        date: timestamp ?? Math.floor(clock.now().getTime() / 1000),
        text: `[i]From the WhatsApp Business app's history[/i]\n${content.text}`,
        // The same place as the message had live: one already in the open line is found, not repeated.
        ...(who.known && timestamp
          ? { place: { phoneId: route.phone.phoneId, customerKey: who.known.key, at: timestamp } }
          : {}),
      },
      attempt,
    );
  }

  /** Coexistence `smb_app_state_sync`: the names in the WhatsApp Business app's contact book. */
  async function syncContactNames(event: InboundEvent): Promise<void> {
    const scope = await directory.scopeOf(event.wabaId);
    for (const item of ((event.value as Json).state_sync as Json[] | undefined) ?? []) {
      const contact = (item.contact ?? {}) as Json;
      const phone = typeof contact.phone_number === "string" ? contact.phone_number.replace(/\D/g, "") : "";
      if (item.type !== "contact" || !phone) continue;
      const known = (await directory.resolve(scope, { phone })) ?? { key: phone };
      const name =
        item.action === "remove"
          ? undefined
          : [contact.full_name, contact.first_name].find(
              (n): n is string => typeof n === "string" && n.trim() !== "",
            );
      await directory.rename(scope, known, name);
    }
  }

  return { deliverEcho, importHistory, syncContactNames };
}
