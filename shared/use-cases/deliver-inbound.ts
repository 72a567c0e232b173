import { CONNECTOR_ID } from "../domain/bitrix-connector.ts";
import { toOpenLinesUser } from "../domain/bitrix-user.ts";
import { describeCallEvent } from "../domain/call-notes.ts";
import {
  identityChangeOf,
  identityOf,
  isPhoneKey,
  type KnownCustomer,
  type SeenIdentity,
} from "../domain/customer-identity.ts";
import { describeInboundMessage, type InboundMedia } from "../domain/inbound-content.ts";
import type { InboundEvent } from "../domain/inbound-event.ts";
import { nextStatus, parseStatus, type Status } from "../domain/message-status.ts";
import { failedStatusNote } from "../domain/meta-errors.ts";
import { windowNeedsWrite } from "../domain/service-window.ts";
import type { Logger } from "../logger.ts";
import type { AccountEventStore } from "../ports/account-events.ts";
import type { BitrixGateway } from "../ports/bitrix.ts";
import type { BitrixStore } from "../ports/bitrix-store.ts";
import type { Clock } from "../ports/clock.ts";
import type { ConversationStore, MediaStore, OutboundRecord } from "../ports/conversations.ts";
import type { CustomerStore } from "../ports/customers.ts";
import type { HistoryStore } from "../ports/history.ts";
import type { MetaGraph } from "../ports/meta-graph.ts";
import type { Metrics } from "../ports/metrics.ts";
import { BodyTooLargeError } from "../ports/outbound-fetch.ts";
import { ENTERPRISE_PORTAL_RATE, type RateLimiter, STANDARD_PORTAL_RATE } from "../ports/rate-limiter.ts";
import type { Store } from "../ports/store.ts";
import { makeCustomerDirectory } from "./customer-directory.ts";
import { makeCoexistence } from "./deliver-coexistence.ts";
import {
  type Attempt,
  type LineMessage,
  makeLineSender,
  PermanentDeliveryError,
  RetryLaterError,
  type Route,
} from "./line-sender.ts";
import { makeNotifyAdmins, makeRecordAccountEvent } from "./record-account-event.ts";
import { makeStatusReporter } from "./status-reporter.ts";

export interface DeliverInboundDeps {
  readonly store: Store;
  readonly bitrixStore: BitrixStore;
  readonly conversations: ConversationStore;
  readonly customers: CustomerStore;
  readonly accountEvents: AccountEventStore;
  readonly history: HistoryStore;
  readonly bitrix: BitrixGateway;
  readonly graph: MetaGraph;
  readonly media: MediaStore;
  readonly limiter: RateLimiter;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics?: Metrics;
  readonly options: {
    readonly mediaUrlTtlSeconds: number;
    readonly maxMediaBytes: number;
    /** Receives after which a status with no matching sent message is recorded as unmatched. */
    readonly statusMatchAttempts: number;
  };
}

export type InboundOutcome = "delivered" | "duplicate" | "unrouted" | "ignored" | "recorded" | "unmatched";

type Json = Record<string, unknown>;

/** Who an event is about: the identifiers it names and the customer they resolve to. */
export interface Customer {
  readonly scope: string;
  readonly seen: SeenIdentity;
  readonly known: KnownCustomer | undefined;
}

export function makeDeliverInbound(deps: DeliverInboundDeps) {
  const {
    store,
    bitrixStore,
    conversations,
    customers,
    bitrix,
    graph,
    media,
    limiter,
    clock,
    logger,
    options,
  } = deps;
  const directory = makeCustomerDirectory({ customers, store });
  const recordAccountEvent = makeRecordAccountEvent(deps);
  const notifyAdmins = makeNotifyAdmins(deps);
  const toLine = makeLineSender({
    bitrixStore,
    conversations,
    bitrix,
    limiter,
    clock,
    metrics: deps.metrics,
  });
  const reportToLine = makeStatusReporter({ bitrix, limiter });
  const sendToLine = (route: Route, who: Customer, message: LineMessage, attempt: Attempt) =>
    toLine(route, toOpenLinesUser(openLinesUserOf(who)), message, attempt);

  /**
   * When this warm process last wrote each conversation's window (and with which customer details):
   * a conversation's messages mostly land in the same worker, so most of them need no write at all.
   * (The latest message a reply marks read is found among the delivered markers.)
   */
  const windowsWritten = new Map<string, { atMs: number; details: string }>();
  const MAX_REMEMBERED_WINDOWS = 10_000;

  async function touchWindow(conversation: Parameters<ConversationStore["touchConversation"]>[0]) {
    const key = `${conversation.phoneId}#${conversation.customerId}`;
    const atMs = Date.parse(conversation.lastInboundAt ?? "");
    const details = JSON.stringify([conversation.waId, conversation.userId, conversation.name]);
    const written = windowsWritten.get(key);
    if (written?.details === details && !windowNeedsWrite(written.atMs, atMs)) return;
    await conversations.touchConversation(conversation);
    if (windowsWritten.size >= MAX_REMEMBERED_WINDOWS) windowsWritten.clear();
    if (!Number.isNaN(atMs) && atMs >= (written?.atMs ?? 0)) windowsWritten.set(key, { atMs, details });
  }

  /**
   * A number we do not know is acknowledged as unrouted (it is not ours to deliver). A number we know but
   * that cannot take messages right now — line deleted, connector off, portal uninstalled — must not lose
   * them: that is a dead letter to redrive once the phone is reconnected.
   */
  async function routeOf(event: InboundEvent): Promise<Route | string> {
    if (!event.phoneNumberId) return "no phone number id";
    const phone = await bitrixStore.getPhone(event.phoneNumberId);
    if (!phone) return `phone ${event.phoneNumberId} is not configured`;
    // The webhook checked this; a queued event is still never routed into another WABA's line.
    if (phone.wabaId !== event.wabaId)
      return `phone ${phone.phoneId} is not a number of WABA ${event.wabaId}`;
    const portal = await bitrixStore.getPortal(phone.memberId);
    if (!phone.line || portal?.status !== "installed") {
      throw new PermanentDeliveryError(
        `phone ${phone.phoneId} cannot take messages now (${portal?.status !== "installed" ? "Bitrix24 app not installed" : `no open line, connector ${phone.connector.status}`}); reconnect it with PATCH /api/admin/phones/${phone.phoneId}, then redrive`,
      );
    }
    return { phone, portal, lineId: phone.line.id };
  }

  /** Who the event names, and the customer's key for good through the phone↔BSUID alias. */
  async function customerOf(event: InboundEvent): Promise<Customer> {
    const contact = ((event.value.contacts as Json[] | undefined) ?? [])[0];
    const message = ((event.value.messages as Json[] | undefined) ?? [])[0];
    const echo = ((event.value.message_echoes as Json[] | undefined) ?? [])[0];
    const seen: SeenIdentity = echo
      ? identityOf(echo, contact, "to")
      : message
        ? identityOf(message, contact, "from")
        : identityOf({ from: event.customerId }, contact, "from");
    const scope = await directory.scopeOf(event.wabaId);
    const known = await directory.resolve(scope, seen);
    return { scope, seen, known };
  }

  /** The customer a send of ours went to: the chat it came from names the key. */
  async function customerOfSend(event: InboundEvent, out: OutboundRecord): Promise<Customer> {
    const scope = await directory.scopeOf(event.wabaId);
    const key =
      out.origin.kind === "openlines" ? out.origin.chatId.replace(/^wa:(user:)?/, "") : out.customerId;
    return { scope, seen: {}, known: await directory.known(scope, key) };
  }

  function openLinesUserOf({ seen, known }: Customer) {
    const key = known?.key ?? "unknown";
    return {
      customerId: key,
      waId: isPhoneKey(key) ? key : undefined,
      userId: isPhoneKey(key) ? undefined : key,
      phone: known?.phone,
      // The name the business gave the customer in its WhatsApp Business app wins over their profile name.
      profileName: known?.contactName ?? seen.name,
      username: known?.username,
    };
  }

  async function fetchMedia(
    event: InboundEvent,
    item: InboundMedia,
    wamid: string,
  ): Promise<{ url: string; name: string }> {
    const waba = await ownWaba(event);
    const app = waba && (await store.getApp(waba.appId));
    if (!waba || !app) throw new PermanentDeliveryError(`WABA ${event.wabaId} or its app is not configured`);
    const target = { accessToken: waba.accessToken, graphApiVersion: app.graphApiVersion };
    const info = await graph.getMedia(item.mediaId, target);
    if (info.fileSize !== undefined && info.fileSize > options.maxMediaBytes) {
      throw new PermanentDeliveryError(
        `the file is ${info.fileSize} bytes, over the ${options.maxMediaBytes} we fetch`,
      );
    }
    const { body, contentType } = await graph.download(info.url, target, options.maxMediaBytes);
    const key = `inbound/${encodeURIComponent(wamid)}/${item.fileName}`;
    // Streamed from Meta into S3: the worker never holds the file whole.
    try {
      await media.put(key, body, info.mimeType ?? contentType ?? item.mimeType);
    } catch (error) {
      if (!(error instanceof BodyTooLargeError)) throw error;
      throw new PermanentDeliveryError(`the file is over the ${options.maxMediaBytes} bytes we fetch`);
    }
    return {
      url: await media.presignedGetUrl(key, options.mediaUrlTtlSeconds, item.fileName),
      name: item.fileName,
    };
  }

  /** The event's WABA only while it is registered under the app that signed the webhook: its token is used. */
  async function ownWaba(event: InboundEvent) {
    const waba = await store.getWaba(event.wabaId);
    return waba?.appId === event.appId ? waba : undefined;
  }

  async function deliverMessage(
    event: InboundEvent,
    route: Route,
    who: Customer,
    attempt: Attempt,
  ): Promise<InboundOutcome> {
    const message = ((event.value.messages as Json[] | undefined) ?? [])[0] ?? {};
    const wamid = String(message.id ?? event.id);
    const outside = (event.value.errors as unknown[] | undefined) ?? [];
    let content = describeInboundMessage(message, outside);
    if (content.replyToWamid) {
      // Second pass with what we kept of the quoted message: its text, else its time.
      const conversation = event.phoneNumberId
        ? { phoneId: event.phoneNumberId, customerKey: who.known?.key ?? "" }
        : undefined;
      content = describeInboundMessage(
        message,
        outside,
        await conversations.getQuoted(content.replyToWamid, conversation),
      );
    }
    let text = content.text;
    if (event.field === "standby") {
      // Another app (e.g. Meta's business agent) owns the thread and answers it; operators see it all.
      text = `[i]Handled by another app (WhatsApp conversation routing); shown here for the record.[/i]\n${text}`;
    }
    const files: { url: string; name: string }[] = [];
    if (content.media) {
      try {
        files.push(await fetchMedia(event, content.media, wamid));
      } catch (error) {
        if (!attempt.last && (error as { transient?: boolean }).transient !== false) throw error;
        // Out of retries, or a failure retrying cannot fix (e.g. the WABA's token was revoked): the
        // operator learns a file was sent instead of the message vanishing.
        text += `\n[i]A file (${content.media.fileName}) could not be fetched from WhatsApp: ${(error as Error).message}[/i]`;
      }
    }
    return sendToLine(
      route,
      who,
      {
        id: wamid,
        date: event.timestamp ?? Math.floor(clock.now().getTime() / 1000),
        text,
        files,
        chatUrl: content.chatUrl,
        // Its marker goes into the conversation (where a reply finds the latest); Meta's timestamp makes
        // the place the same on every redelivery.
        ...(who.known && event.timestamp !== undefined
          ? { place: { phoneId: route.phone.phoneId, customerKey: who.known.key, at: event.timestamp } }
          : {}),
      },
      attempt,
    );
  }

  async function deliverNote(
    event: InboundEvent,
    route: Route,
    who: Customer,
    text: string,
    attempt: Attempt,
  ): Promise<InboundOutcome> {
    const date = event.timestamp ?? Math.floor(clock.now().getTime() / 1000);
    return sendToLine(
      route,
      who,
      { id: `note:${event.id}`, date, text: `[b]WhatsApp:[/b] ${text}` },
      attempt,
    );
  }

  /**
   * Who owns the conversation changed (`messaging_handovers`: Meta's business agent or another app passed
   * or took thread control). The event is recorded like every inbound event; the operator gets a note.
   */
  async function deliverHandover(event: InboundEvent, attempt: Attempt): Promise<InboundOutcome> {
    const route = await routeOf(event);
    if (typeof route === "string") return "unrouted";
    const who = await customerOf(event);
    if (!who.known) return "recorded";
    const value = event.value as Json;
    const type = typeof value.type === "string" ? value.type : "handover";
    const details = (value[type] ?? {}) as Json;
    const previous =
      typeof details.previous_owner_app_role === "string" ? details.previous_owner_app_role : undefined;
    const text =
      type === "control_passed"
        ? `This app now answers the conversation${previous ? ` (it was with ${previous.replaceAll("_", " ")})` : ""}.`
        : `Conversation routing changed (${type.replaceAll("_", " ")}): another app may answer the customer now.`;
    return deliverNote(event, route, who, text, attempt);
  }

  const { deliverEcho, importHistory, syncContactNames } = makeCoexistence({
    conversations,
    history: deps.history,
    bitrix,
    clock,
    directory,
    routeOf,
    sendToLine,
    fetchMedia,
    paced,
  });

  /** Status reports spend the portal's shared rate budget like everything else sent to Bitrix24. */
  async function profileOf(memberId: string) {
    const portal = await bitrixStore.getPortal(memberId);
    return portal?.licenseFamily === "ent" ? ENTERPRISE_PORTAL_RATE : STANDARD_PORTAL_RATE;
  }
  async function paced(memberId: string): Promise<void> {
    await limiter.acquire(memberId, await profileOf(memberId));
  }

  async function reportStatus(
    route: Route | undefined,
    out: OutboundRecord,
    status: Status,
    raw: Json,
    event: InboundEvent,
    attempt: Attempt,
  ) {
    const previous = out.status === "accepted" ? undefined : out.status;
    if (out.origin.kind === "robot") return;
    if (out.origin.kind === "sms") {
      // The SMS provider API knows delivered, undelivered and failed only (b24restdocs
      // messageservice-message-status-update.md): a `read` after `delivered` would report delivery again.
      const smsStatus = smsStatusOf(status);
      if (!smsStatus || smsStatusOf(previous) === smsStatus) return;
      await paced(out.memberId);
      await bitrix.call(out.memberId, "messageservice.message.status.update", {
        CODE: out.origin.code,
        MESSAGE_ID: out.origin.messageId,
        STATUS: smsStatus,
      });
      return;
    }
    if (!route) return;
    if (status === "failed") {
      await deliverNote(event, route, await customerOfSend(event, out), failedStatusNote(raw), attempt);
      return;
    }
    // Reports for the same line that are ready together share one call (see makeStatusReporter).
    const report = async (method: string) =>
      reportToLine(
        out.memberId,
        await profileOf(out.memberId),
        method,
        { CONNECTOR: CONNECTOR_ID, LINE: out.origin.kind === "openlines" ? out.origin.lineId : route.lineId },
        {
          im:
            out.origin.kind === "openlines"
              ? { chat_id: out.origin.imChatId, message_id: out.origin.imMessageId }
              : {},
          message: { id: [out.wamid], date: event.timestamp },
          chat: { id: out.origin.kind === "openlines" ? out.origin.chatId : out.customerId },
        },
      );
    // Reported once, when the message first reaches the customer: `sent` is only Meta's acceptance, and
    // Meta sends no `delivered` for a message read at once, so `read`/`played` report delivery too.
    // imconnector.send.status.reading is not called: its server handler is a stub that returns true
    // (b24restdocs marks the method hidden for that reason), and delivery already marks the message read.
    if (status !== "sent" && (previous === undefined || previous === "sent")) {
      await report("imconnector.send.status.delivery");
    }
  }

  async function deliverStatus(event: InboundEvent, attempt: Attempt): Promise<InboundOutcome> {
    const raw = ((event.value.statuses as Json[] | undefined) ?? [])[0] ?? {};
    const wamid = String(raw.id ?? "");
    const status = parseStatus(raw.status);
    if (!status) return "ignored";
    // A status naming both the phone and the BSUID of the recipient teaches the alias too (only those
    // are worth a look-up).
    const recipient = identityOf(raw, undefined, "status");
    if (recipient.phone && recipient.userId) {
      await directory.resolve(await directory.scopeOf(event.wabaId), recipient);
    }
    const out = await conversations.getOutbound(wamid);
    // A status speaks for a message of its own number only: another number's wamid is not its to report.
    if (out && out.phoneId !== event.phoneNumberId) {
      logger.warn("status names a message of another number", { id: event.id, wabaId: event.wabaId });
      return "ignored";
    }
    if (!out) {
      if (attempt.number < options.statusMatchAttempts && !attempt.last) {
        throw new RetryLaterError(`status ${status} for ${wamid} arrived before the record of its send`);
      }
      // Statuses of messages sent outside this bridge (Meta's dashboard, other tools) end here, not in the DLQ.
      await conversations.recordUnmatchedStatus(event.id, event);
      return "unmatched";
    }
    const next = nextStatus(out.status === "accepted" ? undefined : out.status, status);
    if (!next) return "ignored";
    // `sent` is only Meta's acceptance: nothing is reported for it, and every later status is treated
    // after it as after none, so it is not written either (one write fewer per message we send).
    if (next === "sent") return "ignored";
    // An SMS status needs no open line; a line that is gone has nobody to show a delivery tick to.
    const route = await routeOf(event).catch((error: unknown) => {
      if (error instanceof PermanentDeliveryError) return "no route";
      throw error;
    });
    // Only statuses that call Bitrix24 spend the portal's budget (reportStatus paces each call).
    await reportStatus(typeof route === "string" ? undefined : route, out, next, raw, event, attempt);
    await conversations.setOutboundStatus(wamid, out.status, next);
    return "delivered";
  }

  /**
   * 1. Record the last contact of the customer (the 24-hour window) for messages and calls.
   * 2. Messages: content (media fetched from Meta into S3, given to Bitrix24 as a presigned URL) into the
   *    phone's open line, exactly once. Statuses of our sends go back to Bitrix24, forward only. Calls
   *    become short notes. Template updates drop the WABA's template cache; other fields are recorded.
   * 3. Events for numbers not connected are acknowledged as `unrouted` — never retried forever.
   */
  return async function deliverInbound(event: InboundEvent, attempt: Attempt): Promise<InboundOutcome> {
    if (event.field === "history") return importHistory(event, attempt);
    if (event.kind === "field" && event.field === "messaging_handovers")
      return deliverHandover(event, attempt);
    if (event.kind === "field" && event.field === "smb_app_state_sync") {
      await syncContactNames(event);
      return "recorded";
    }
    if (event.kind === "field") {
      // Only for a WABA of the app that signed the webhook: nobody else's templates or reports change.
      if (await ownWaba(event)) {
        if (event.field.startsWith("message_template")) await conversations.invalidateTemplates(event.wabaId);
        if (await recordAccountEvent(event)) return "recorded";
      }
      logger.info("field event", {
        field: event.field,
        wabaId: event.wabaId,
        event: (event.value as Json).event,
      });
      return "recorded";
    }
    if (event.kind === "status") return deliverStatus(event, attempt);

    // Side by side: the alias look-up must not lengthen the path to the line (messages of different
    // conversations share a Bitrix24 call only when they reach it within the same few milliseconds).
    const [route, resolved] = await Promise.all([routeOf(event), customerOf(event)]);
    let who = resolved;
    if (event.kind === "echo") {
      // The business wrote, not the customer: the 24-hour window does not move.
      if (typeof route === "string" || !who.known) return "unrouted";
      return deliverEcho(event, route, who, attempt);
    }
    const message = ((event.value.messages as Json[] | undefined) ?? [])[0];
    const change = message ? identityChangeOf(message) : undefined;
    if (change && who.known) {
      // The key stays, so the note lands in the customer's own chat and the window carries over.
      who = { ...who, known: await directory.move(who.scope, who.known, change) };
    }
    // Before the message is shown: an operator who answers at once finds the window open and the
    // message to mark read.
    if (event.phoneNumberId && who.known && (event.kind === "message" || event.id.startsWith("call:"))) {
      await touchWindow({
        phoneId: event.phoneNumberId,
        customerId: who.known.key,
        waId: who.known.phone,
        userId: who.known.userId,
        name: who.seen.name,
        lastInboundAt: new Date((event.timestamp ?? clock.now().getTime() / 1000) * 1000).toISOString(),
      });
    }
    if (typeof route === "string") {
      logger.warn("inbound event not routed", { id: event.id, reason: route });
      // Counted where the admin sees it (GET /api/admin/unrouted): Meta sends for a number nobody set up.
      if (event.phoneNumberId)
        await conversations.recordUnrouted({
          phoneNumberId: event.phoneNumberId,
          wabaId: event.wabaId,
          eventId: event.id,
          at: clock.now().toISOString(),
        });
      return "unrouted";
    }
    if (!who.known) {
      // Nobody to put it next to: a shared "unknown" chat would mix customers up, so a person hears of it.
      const content = message ? describeInboundMessage(message).text : event.field;
      await notifyAdmins(
        [route.phone],
        `WhatsApp number ${route.phone.phone}: a ${event.kind} that names no customer (no phone, no user id): ${content}`,
        `separator_waba|${event.id}`,
      );
      logger.warn("inbound event names no customer", { id: event.id });
      return "recorded";
    }
    if (event.kind === "message") return deliverMessage(event, route, who, attempt);
    const item = ((event.value.calls ?? event.value.statuses) as Json[] | undefined)?.[0] ?? {};
    const note = describeCallEvent(
      item,
      event.id.startsWith("callstatus:") ? "callstatus" : "call",
      (event.value.errors as unknown[]) ?? [],
    );
    return note ? deliverNote(event, route, who, note, attempt) : "ignored";
  };
}

/** What Bitrix24's SMS provider API is told of a WhatsApp status; nothing for `sent` (or none yet). */
function smsStatusOf(status: Status | undefined): "failed" | "delivered" | undefined {
  if (status === undefined || status === "sent") return undefined;
  return status === "failed" ? "failed" : "delivered";
}
