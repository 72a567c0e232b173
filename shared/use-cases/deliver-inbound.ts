import { CONNECTOR_ID } from "../domain/bitrix-connector.ts";
import { toOpenLinesUser } from "../domain/bitrix-user.ts";
import { describeCallEvent } from "../domain/call-notes.ts";
import { describeInboundMessage, type InboundMedia } from "../domain/inbound-content.ts";
import type { InboundEvent } from "../domain/inbound-event.ts";
import { nextStatus, parseStatus, type Status } from "../domain/message-status.ts";
import { failedStatusNote } from "../domain/meta-errors.ts";
import { metaStatusOf } from "../domain/meta-status.ts";
import type { Logger } from "../logger.ts";
import type { BitrixGateway } from "../ports/bitrix.ts";
import type { BitrixStore } from "../ports/bitrix-store.ts";
import type { Clock } from "../ports/clock.ts";
import type { ConversationStore, MediaStore, OutboundRecord } from "../ports/conversations.ts";
import type { MetaGraph } from "../ports/meta-graph.ts";
import type { MetaStatusStore } from "../ports/meta-status.ts";
import type { Metrics } from "../ports/metrics.ts";
import { BodyTooLargeError } from "../ports/outbound-fetch.ts";
import { ENTERPRISE_PORTAL_RATE, type RateLimiter, STANDARD_PORTAL_RATE } from "../ports/rate-limiter.ts";
import type { Store } from "../ports/store.ts";
import {
  type Attempt,
  type LineMessage,
  makeLineSender,
  PermanentDeliveryError,
  RetryLaterError,
  type Route,
} from "./line-sender.ts";

export interface DeliverInboundDeps {
  readonly store: Store;
  readonly bitrixStore: BitrixStore;
  readonly conversations: ConversationStore;
  readonly bitrix: BitrixGateway;
  readonly graph: MetaGraph;
  readonly media: MediaStore;
  readonly limiter: RateLimiter;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics?: Metrics;
  /** Where the latest account and quality reports go (the app's page shows them). */
  readonly metaStatus?: MetaStatusStore;
  readonly options: {
    /** How long a delivery claim holds before another worker may take the message over. */
    readonly leaseMs: number;
    readonly mediaUrlTtlSeconds: number;
    readonly maxMediaBytes: number;
    /** Receives after which a status with no matching sent message is recorded as unmatched. */
    readonly statusMatchAttempts: number;
  };
}

export type InboundOutcome = "delivered" | "duplicate" | "unrouted" | "ignored" | "recorded" | "unmatched";

type Json = Record<string, unknown>;

export function makeDeliverInbound(deps: DeliverInboundDeps) {
  const { store, bitrixStore, conversations, bitrix, graph, media, limiter, clock, logger, options } = deps;
  const toLine = makeLineSender({
    bitrixStore,
    conversations,
    bitrix,
    limiter,
    clock,
    leaseMs: options.leaseMs,
    metrics: deps.metrics,
  });
  const sendToLine = (route: Route, event: InboundEvent, message: LineMessage, attempt: Attempt) =>
    toLine(route, toOpenLinesUser(customerOf(event)), message, attempt);

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

  function customerOf(event: InboundEvent) {
    const contact = ((event.value.contacts as Json[] | undefined) ?? [])[0] ?? {};
    const profile = (contact.profile ?? {}) as Json;
    const str = (v: unknown) => (typeof v === "string" && v ? v : undefined);
    return {
      customerId: event.customerId ?? "unknown",
      waId: str(contact.wa_id),
      userId: str(contact.user_id),
      profileName: str(profile.name),
      username: str(profile.username),
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
    attempt: Attempt,
  ): Promise<InboundOutcome> {
    const message = ((event.value.messages as Json[] | undefined) ?? [])[0] ?? {};
    const wamid = String(message.id ?? event.id);
    const content = describeInboundMessage(message);
    let text = content.text;
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
      event,
      {
        id: wamid,
        date: event.timestamp ?? Math.floor(clock.now().getTime() / 1000),
        text,
        files,
        chatUrl: content.chatUrl,
      },
      attempt,
    );
  }

  async function deliverNote(
    event: InboundEvent,
    route: Route,
    text: string,
    attempt: Attempt,
  ): Promise<InboundOutcome> {
    const date = event.timestamp ?? Math.floor(clock.now().getTime() / 1000);
    return sendToLine(
      route,
      event,
      { id: `note:${event.id}`, date, text: `[b]WhatsApp:[/b] ${text}` },
      attempt,
    );
  }

  /** Status reports spend the portal's shared rate budget like everything else sent to Bitrix24. */
  async function paced(memberId: string): Promise<void> {
    const portal = await bitrixStore.getPortal(memberId);
    await limiter.acquire(
      memberId,
      portal?.licenseFamily === "ent" ? ENTERPRISE_PORTAL_RATE : STANDARD_PORTAL_RATE,
    );
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
      const smsStatus = status === "failed" ? "failed" : status === "sent" ? undefined : "delivered";
      if (!smsStatus) return;
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
      await deliverNote(event, route, failedStatusNote(raw), attempt);
      return;
    }
    const report = async (method: string) => {
      await paced(out.memberId);
      return bitrix.call(out.memberId, method, {
        CONNECTOR: CONNECTOR_ID,
        LINE: out.origin.kind === "openlines" ? out.origin.lineId : route.lineId,
        MESSAGES: [
          {
            im:
              out.origin.kind === "openlines"
                ? { chat_id: out.origin.imChatId, message_id: out.origin.imMessageId }
                : {},
            message: { id: [out.wamid], date: event.timestamp },
            chat: { id: out.origin.kind === "openlines" ? out.origin.chatId : out.customerId },
          },
        ],
      });
    };
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
    if (event.kind === "field") {
      // Only for a WABA of the app that signed the webhook: nobody else's templates or reports change.
      if (await ownWaba(event)) {
        if (event.field.startsWith("message_template")) await conversations.invalidateTemplates(event.wabaId);
        const reported = metaStatusOf(event.field, event.wabaId, event.value as Json, event.timestamp);
        if (reported) await deps.metaStatus?.recordStatus(reported);
      }
      logger.info("account event", {
        field: event.field,
        wabaId: event.wabaId,
        event: (event.value as Json).event,
      });
      return "recorded";
    }
    if (event.kind === "status") return deliverStatus(event, attempt);

    const route = await routeOf(event);
    const customer = customerOf(event);
    if (
      event.phoneNumberId &&
      event.customerId &&
      (event.kind === "message" || event.id.startsWith("call:"))
    ) {
      await conversations.touchConversation({
        phoneId: event.phoneNumberId,
        customerId: event.customerId,
        waId: customer.waId,
        userId: customer.userId,
        name: customer.profileName,
        lastInboundAt: new Date((event.timestamp ?? clock.now().getTime() / 1000) * 1000).toISOString(),
        lastInboundWamid: event.kind === "message" ? messageIdOf(event) : undefined,
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
    if (event.kind === "message") return deliverMessage(event, route, attempt);
    const item = ((event.value.calls ?? event.value.statuses) as Json[] | undefined)?.[0] ?? {};
    const note = describeCallEvent(
      item,
      event.id.startsWith("callstatus:") ? "callstatus" : "call",
      (event.value.errors as unknown[]) ?? [],
    );
    return note ? deliverNote(event, route, note, attempt) : "ignored";
  };
}

/** The wamid of an inbound message: what an operator's reply marks as read. */
function messageIdOf(event: InboundEvent): string | undefined {
  const id = (event.value.messages as Json[] | undefined)?.[0]?.id;
  return typeof id === "string" && id ? id : undefined;
}
