import {
  bbcodeToPlainText,
  formatOperatorText,
  splitForWhatsApp,
  splitOperatorPrefix,
} from "../domain/bbcode.ts";
import { toOpenLinesUser } from "../domain/bitrix-user.ts";
import { explainMetaError } from "../domain/meta-errors.ts";
import { type OperatorFile, type OutboundJob, recipientOf } from "../domain/outbound-job.ts";
import { chooseWhatsAppMedia } from "../domain/outbound-media.ts";
import { isAllowedOutboundUrl } from "../domain/outbound-url.ts";
import { isServiceWindowOpen, windowClosedNote } from "../domain/service-window.ts";
import { buildTemplateMessage, findTemplate, parseShortcode } from "../domain/template-shortcode.ts";
import { GraphApiError } from "../errors.ts";
import type { Logger } from "../logger.ts";
import type { BitrixGateway } from "../ports/bitrix.ts";
import type { BitrixStore } from "../ports/bitrix-store.ts";
import type { Clock } from "../ports/clock.ts";
import type { ConversationStore } from "../ports/conversations.ts";
import type { GraphTarget, MetaGraph } from "../ports/meta-graph.ts";
import type { RateLimiter } from "../ports/rate-limiter.ts";
import type { Store, WabaRecord } from "../ports/store.ts";
import {
  type Attempt,
  makeLineSender,
  PermanentDeliveryError,
  RetryLaterError,
  type Route,
} from "./line-sender.ts";
import type { makeTemplateCatalog } from "./template-catalog.ts";

export interface SendOperatorMessageDeps {
  readonly store: Store;
  readonly bitrixStore: BitrixStore;
  readonly conversations: ConversationStore;
  readonly bitrix: BitrixGateway;
  readonly graph: MetaGraph;
  readonly templates: ReturnType<typeof makeTemplateCatalog>;
  readonly limiter: RateLimiter;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly options: {
    readonly leaseMs: number;
    readonly timeoutMs: number;
    readonly allowLoopbackHttp: boolean;
  };
}

export type OutboundOutcome = "sent" | "duplicate" | "noted" | "unroutable" | "empty";

/** Meta's code for a token that is expired or revoked: the WABA needs a new one. */
const INVALID_TOKEN = 190;
/** Meta's code for a message outside the 24-hour window (our clock and Meta's may disagree). */
const WINDOW_CLOSED = 131047;
const CAPTION_MAX = 1024;
/** Meta's code for a file it will not take as media (type or size). */
const MEDIA_REFUSED = 131053;

/** One WhatsApp message to send, with a key that makes it exactly-once across retries. */
interface Part {
  readonly key: string;
  readonly build: () => Promise<Record<string, unknown>>;
}

export function makeSendOperatorMessage(deps: SendOperatorMessageDeps) {
  const { store, bitrixStore, conversations, bitrix, graph, templates, limiter, clock, logger, options } =
    deps;
  const toLine = makeLineSender({
    bitrixStore,
    conversations,
    bitrix,
    limiter,
    clock,
    leaseMs: options.leaseMs,
  });

  async function noteToOperator(route: Route, job: OutboundJob, key: string, text: string, attempt: Attempt) {
    const recipient = recipientOf(job.chatId);
    const digits = recipient && "to" in recipient ? recipient.to : undefined;
    const customerId = digits ?? job.chatId.replace(/^wa:user:/, "");
    const conversation = await conversations.getConversation(route.phone.phoneId, customerId);
    const user = toOpenLinesUser({
      customerId,
      waId: digits,
      userId: digits ? undefined : customerId,
      profileName: conversation?.name,
    });
    await toLine(
      route,
      user,
      {
        id: `note:${job.id}:${key}`,
        date: Math.floor(clock.now().getTime() / 1000),
        text: `[b]WhatsApp:[/b] ${text}`,
      },
      attempt,
    );
    return "noted" as const;
  }

  /** Downloads the operator's file (a URL we may fetch) and uploads it to Meta: Meta never sees Bitrix24 links. */
  async function uploadFile(phoneId: string, file: OperatorFile, target: GraphTarget): Promise<string> {
    if (!isAllowedOutboundUrl(file.link, options.allowLoopbackHttp)) {
      throw new PermanentDeliveryError(`the file link of ${file.name} is not an https URL`);
    }
    let response: Response;
    try {
      response = await fetch(file.link, { signal: AbortSignal.timeout(options.timeoutMs * 3) });
    } catch (error) {
      throw new RetryLaterError(`could not download ${file.name} from Bitrix24: ${(error as Error).message}`);
    }
    if (response.status >= 500)
      throw new RetryLaterError(`Bitrix24 answered ${response.status} for ${file.name}`);
    if (!response.ok)
      throw new PermanentDeliveryError(`Bitrix24 answered ${response.status} for ${file.name}`);
    const bytes = new Uint8Array(await response.arrayBuffer());
    const mimeType =
      file.mime || response.headers.get("content-type")?.split(";")[0] || "application/octet-stream";
    return graph.uploadMedia(phoneId, { bytes, mimeType, fileName: file.name }, target);
  }

  /** What the operator typed becomes the WhatsApp messages to send: texts, files (first captioned), links. */
  function plainParts(job: OutboundJob, phoneId: string, target: GraphTarget): Part[] {
    const { operator, body } = splitOperatorPrefix(job.text);
    const onlySignature = operator !== undefined && bbcodeToPlainText(body).trim() === "";
    const formatted =
      job.text.trim() && !(onlySignature && job.files.length > 0) ? formatOperatorText(job.text) : "";
    const files = job.files.map((file) => ({
      file,
      choice: chooseWhatsAppMedia(file.mime ?? "", file.size),
    }));
    const media = files.filter((f) => f.choice.kind !== "link");
    const links = files.filter((f) => f.choice.kind === "link").map((f) => `${f.file.name}: ${f.file.link}`);
    const first = media[0];
    const caption =
      first && ["image", "video", "document"].includes(first.choice.kind) && formatted.length <= CAPTION_MAX
        ? formatted
        : "";
    const texts = splitForWhatsApp([caption ? "" : formatted, ...links].filter(Boolean).join("\n"));
    return [
      ...texts.map((text, i) => ({
        key: `text:${i}`,
        build: async () => ({ type: "text", text: { body: text, preview_url: /https?:\/\//.test(text) } }),
      })),
      ...media.map(({ file, choice }, i) => ({
        key: `file:${i}`,
        build: async () => {
          let id: string;
          try {
            id = await uploadFile(phoneId, file, target);
          } catch (error) {
            // Meta refuses this type or size as media (131053): the customer still gets the file, as a link.
            if (!(error instanceof GraphApiError && error.graphCode === MEDIA_REFUSED)) throw error;
            const text = [i === 0 ? caption : "", `${file.name}: ${file.link}`].filter(Boolean).join("\n");
            return { type: "text", text: { body: text, preview_url: false } };
          }
          const kind = choice.kind;
          const payload: Record<string, unknown> = { id };
          if (i === 0 && caption) payload.caption = caption;
          if (kind === "document") payload.filename = file.name;
          return { type: kind, [kind]: payload };
        },
      })),
    ];
  }

  /**
   * 1. Find the number behind the line, its WABA and the customer behind the chat.
   * 2. A `template-NAME+LANG` shortcode is checked against the WABA's approved templates (refreshed when
   *    the name is not cached) and sent as a template; anything wrong becomes a note, and Meta is not called.
   * 3. Anything else needs the 24-hour window open; then texts (BBCode → WhatsApp, split at 4096) and files
   *    (uploaded to Meta, the first carrying the text as caption, too large ones as links) go out in order.
   * 4. Each part is sent once (its wamid is recorded against the Bitrix24 message); a retry skips what went.
   *    Meta's transient errors retry through the queue; permanent ones become one note with Meta's code.
   */
  return async function sendOperatorMessage(job: OutboundJob, attempt: Attempt): Promise<OutboundOutcome> {
    const phone = await bitrixStore.findPhoneByLine(job.memberId, job.lineId);
    const portal = phone && (await bitrixStore.getPortal(job.memberId));
    if (!phone || portal?.status !== "installed") {
      logger.warn("operator message on a line with no number", {
        memberId: job.memberId,
        lineId: job.lineId,
      });
      return "unroutable";
    }
    const route: Route = { phone, portal, lineId: job.lineId };
    if (job.kind !== "message") {
      const what = job.kind === "edited" ? "edited" : "deleted";
      return noteToOperator(
        route,
        job,
        job.kind,
        `WhatsApp cannot change a message already sent: the customer still sees the original, not the ${what} one.`,
        attempt,
      );
    }
    const recipient = recipientOf(job.chatId);
    if (!recipient)
      throw new PermanentDeliveryError(`chat ${job.chatId} is not a WhatsApp customer of this connector`);
    const waba = await store.getWaba(phone.wabaId);
    const app = waba && (await store.getApp(waba.appId));
    if (!waba || !app)
      throw new PermanentDeliveryError(
        `WABA ${phone.wabaId} of phone ${phone.phoneId} or its app is not configured`,
      );
    const target = { accessToken: waba.accessToken, graphApiVersion: app.graphApiVersion };

    let parts: Part[];
    const shortcode = parseShortcode(job.text, { bare: false });
    if (shortcode) {
      let found = findTemplate(await templates.templates(waba.wabaId), shortcode.name, shortcode.language);
      if (!found.ok)
        found = findTemplate(
          await templates.templates(waba.wabaId, { refresh: true }),
          shortcode.name,
          shortcode.language,
        );
      if (!found.ok) return noteToOperator(route, job, "template", `Not sent: ${found.problem}`, attempt);
      const built = buildTemplateMessage(shortcode, found.template);
      if (!built.ok)
        return noteToOperator(
          route,
          job,
          "template",
          `Not sent: ${built.problem}. Write it as: ${built.expectedForm}`,
          attempt,
        );
      parts = [{ key: "template", build: async () => ({ type: "template", template: built.template }) }];
    } else {
      const customerId = "to" in recipient ? recipient.to : recipient.recipient;
      const conversation = await conversations.getConversation(phone.phoneId, customerId);
      const last = conversation?.lastInboundAt ? new Date(conversation.lastInboundAt) : undefined;
      if (!isServiceWindowOpen(last, clock.now()))
        return noteToOperator(route, job, "window", windowClosedNote(), attempt);
      parts = plainParts(job, phone.phoneId, target);
      if (parts.length === 0) return "empty";
    }

    let sent = 0;
    for (const part of parts) {
      const partId = `${job.id}:${part.key}`;
      if (await conversations.getOutboundPart(partId)) continue;
      try {
        const wamid = await graph.sendMessage(
          phone.phoneId,
          { ...recipient, ...(await part.build()) },
          target,
        );
        await conversations.putOutboundPart(partId, wamid);
        await conversations.putOutbound({
          wamid,
          phoneId: phone.phoneId,
          memberId: job.memberId,
          customerId: "to" in recipient ? recipient.to : recipient.recipient,
          status: "accepted",
          origin: {
            kind: "openlines",
            lineId: job.lineId,
            chatId: job.chatId,
            imChatId: job.im.chatId,
            imMessageId: job.im.messageId,
          },
          createdAt: clock.now().toISOString(),
        });
        sent++;
      } catch (error) {
        if (!(error instanceof GraphApiError)) throw error;
        if (error.transient && !attempt.last) throw error;
        if (error.graphCode === INVALID_TOKEN) await markTokenInvalid(waba, error);
        const explained = explainMetaError(error.graphCode ?? 0, undefined, error.message);
        const advice = error.graphCode === WINDOW_CLOSED ? windowClosedNote() : explained.advice;
        return noteToOperator(
          route,
          job,
          `error:${part.key}`,
          `Not sent (${error.graphCode ?? "HTTP"}: ${explained.title}). ${advice}`,
          attempt,
        );
      }
    }
    return sent > 0 ? "sent" : "duplicate";
  };

  async function markTokenInvalid(waba: WabaRecord, error: GraphApiError): Promise<void> {
    await store.putWaba({
      ...waba,
      tokenStatus: "invalid",
      subscribeError: { code: error.graphCode, message: error.message },
      updatedAt: clock.now().toISOString(),
    });
  }
}
