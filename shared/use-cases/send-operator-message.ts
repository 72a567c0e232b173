import { Readable } from "node:stream";
import {
  bbcodeToPlainText,
  formatOperatorText,
  splitForWhatsApp,
  splitOperatorPrefix,
} from "../domain/bbcode.ts";
import { toE164 } from "../domain/bitrix-connector.ts";
import { toOpenLinesUser } from "../domain/bitrix-user.ts";
import { recipientFor } from "../domain/customer-identity.ts";
import { mimeFromBytes } from "../domain/file-type.ts";
import { BUSINESS_APP_MARKER, snippetOf } from "../domain/inbound-content.ts";
import { explainMetaError } from "../domain/meta-errors.ts";
import { type OperatorFile, type OutboundJob, recipientOf, type SmsJob } from "../domain/outbound-job.ts";
import { chooseWhatsAppMedia } from "../domain/outbound-media.ts";
import { isServiceWindowOpen, windowClosedNote } from "../domain/service-window.ts";
import {
  buildTemplateMessage,
  findTemplate,
  type ParsedShortcode,
  parseShortcode,
} from "../domain/template-shortcode.ts";
import { GraphApiError } from "../errors.ts";
import type { Logger } from "../logger.ts";
import type { BitrixGateway } from "../ports/bitrix.ts";
import type { BitrixStore, PhoneRecord } from "../ports/bitrix-store.ts";
import type { Clock } from "../ports/clock.ts";
import type { ConversationStore, OutboundRecord } from "../ports/conversations.ts";
import type { CustomerStore } from "../ports/customers.ts";
import type { GraphTarget, MetaGraph } from "../ports/meta-graph.ts";
import { type Metrics, metricNames, noMetrics } from "../ports/metrics.ts";
import {
  BodyTooLargeError,
  type FetchFromOutside,
  type SafeResponse,
  UnsafeUrlError,
} from "../ports/outbound-fetch.ts";
import type { RateLimiter } from "../ports/rate-limiter.ts";
import type { Store, WabaRecord } from "../ports/store.ts";
import { makeCustomerDirectory } from "./customer-directory.ts";
import {
  type Attempt,
  makeLineSender,
  PermanentDeliveryError,
  RetryLaterError,
  type Route,
} from "./line-sender.ts";
import { filesFromDisk } from "./operator-disk-files.ts";
import type { makeTemplateCatalog } from "./template-catalog.ts";

export interface SendOperatorMessageDeps {
  readonly store: Store;
  readonly bitrixStore: BitrixStore;
  readonly conversations: ConversationStore;
  readonly customers: CustomerStore;
  readonly bitrix: BitrixGateway;
  readonly graph: MetaGraph;
  readonly templates: ReturnType<typeof makeTemplateCatalog>;
  readonly limiter: RateLimiter;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics?: Metrics;
  /** Operator file links come from Bitrix24 events: fetched only where they may lead. */
  readonly fetchFromOutside: FetchFromOutside;
  readonly options: {
    readonly timeoutMs: number;
  };
}

export type OutboundOutcome = "sent" | "duplicate" | "noted" | "unroutable" | "empty" | "failed";

/** Meta's code for a token that is expired or revoked: the WABA needs a new one. */
const INVALID_TOKEN = 190;
/** Meta's code for a message outside the 24-hour window (our clock and Meta's may disagree). */
const WINDOW_CLOSED = 131047;
/** Meta's code for a marketing template to a customer who stopped marketing messages. */
const MARKETING_STOPPED = 131050;
const CAPTION_MAX = 1024;
/** WhatsApp's largest file (a document, 100 MB). */
const MAX_FILE_BYTES = 100 * 1024 * 1024;
/** Meta's code for a file it will not take as media (type or size). */
const MEDIA_REFUSED = 131053;

/** The text a sent WhatsApp message shows: its body, a caption, or the template's name. */
function sentText(message: Record<string, unknown>): string | undefined {
  const type = String(message.type ?? "");
  const body = (message[type] ?? {}) as { body?: unknown; caption?: unknown; name?: unknown };
  const text =
    body.body ?? body.caption ?? (type === "template" ? `Template ${String(body.name ?? "")}` : undefined);
  return typeof text === "string" ? text : undefined;
}

/** One WhatsApp message to send, with a key that makes it exactly-once across retries. */
interface Part {
  readonly key: string;
  readonly build: () => Promise<Record<string, unknown>>;
}

export function makeSendOperatorMessage(deps: SendOperatorMessageDeps) {
  const {
    store,
    bitrixStore,
    conversations,
    customers,
    bitrix,
    graph,
    templates,
    limiter,
    clock,
    logger,
    fetchFromOutside,
    options,
  } = deps;
  const directory = makeCustomerDirectory({ customers, store });
  const toLine = makeLineSender({
    bitrixStore,
    conversations,
    bitrix,
    limiter,
    clock,
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
    let response: SafeResponse;
    try {
      response = await fetchFromOutside(file.link, { signal: AbortSignal.timeout(options.timeoutMs * 3) });
    } catch (error) {
      if (error instanceof UnsafeUrlError) {
        throw new PermanentDeliveryError(
          `the file link of ${file.name} is not a URL we may fetch (${error.message})`,
        );
      }
      throw new RetryLaterError(`could not download ${file.name} from Bitrix24: ${(error as Error).message}`);
    }
    const declared = Number(response.headers.get("content-length") ?? "0");
    if (response.status >= 300 || declared > MAX_FILE_BYTES) response.discard();
    if (declared > MAX_FILE_BYTES)
      throw new PermanentDeliveryError(`${file.name} is larger than WhatsApp takes`);
    if (response.status >= 500)
      throw new RetryLaterError(`Bitrix24 answered ${response.status} for ${file.name}`);
    if (response.status >= 300)
      throw new PermanentDeliveryError(`Bitrix24 answered ${response.status} for ${file.name}`);
    // Streamed from Bitrix24 to Meta as it arrives; the cap stops the transfer at WhatsApp's limit. Only
    // the first bytes are looked at (for the file's type) before the rest follows them.
    try {
      const { head, body } = await peek(response.bodyUpTo(MAX_FILE_BYTES), FILE_TYPE_BYTES);
      const mimeType =
        file.mime ||
        mimeFromBytes(head) ||
        response.headers.get("content-type")?.split(";")[0] ||
        "application/octet-stream";
      return await graph.uploadMedia(phoneId, { body, mimeType, fileName: file.name }, target);
    } catch (error) {
      if (error instanceof BodyTooLargeError)
        throw new PermanentDeliveryError(`${file.name} is larger than WhatsApp takes`);
      throw error;
    }
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
    // A private link (the portal's token in it) is never written to the customer: its file takes the media
    // path, where it goes or fails with a note to the operator.
    const asLink = (f: (typeof files)[number]) => f.choice.kind === "link" && !f.file.privateLink;
    const media = files.filter((f) => !asLink(f));
    const links = files.filter(asLink).map((f) => `${f.file.name}: ${f.file.link}`);
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
          if (choice.kind === "link") throw new PermanentDeliveryError(`${file.name}: ${choice.reason}`);
          let id: string;
          try {
            id = await uploadFile(phoneId, file, target);
          } catch (error) {
            // Meta refuses this type or size as media (131053): the customer still gets the file, as a link.
            if (!(error instanceof GraphApiError && error.graphCode === MEDIA_REFUSED)) throw error;
            if (file.privateLink) {
              throw new PermanentDeliveryError(
                `${file.name}: WhatsApp does not take this file (${error.message})`,
              );
            }
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
  async function sendOperatorMessage(job: OutboundJob, attempt: Attempt): Promise<OutboundOutcome> {
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
    if (splitOperatorPrefix(job.text).body.trimStart().startsWith(BUSINESS_APP_MARKER)) {
      // Our own copy of what the business sent from the WhatsApp Business app, should Bitrix24 hand it
      // back to the connector: the customer already has it.
      logger.info("business app message not sent again", { memberId: job.memberId, lineId: job.lineId });
      return "duplicate";
    }
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
    const chatRecipient = recipientOf(job.chatId);
    if (!chatRecipient)
      throw new PermanentDeliveryError(`chat ${job.chatId} is not a WhatsApp customer of this connector`);
    // The chat names the customer's key; the alias says where they are now (a new number, a phone
    // learned since the chat began): the phone where it is known, else the BSUID as `recipient`.
    const customerKey = "to" in chatRecipient ? chatRecipient.to : chatRecipient.recipient;
    const scope = await directory.scopeOf(phone.wabaId);
    const customer = await directory.known(scope, customerKey);
    const recipient = recipientFor(customer);
    const waba = await store.getWaba(phone.wabaId);
    const app = waba && (await store.getApp(waba.appId));
    if (!waba || !app)
      throw new PermanentDeliveryError(
        `WABA ${phone.wabaId} of phone ${phone.phoneId} or its app is not configured`,
      );
    const target = { accessToken: waba.accessToken, graphApiVersion: app.graphApiVersion };
    // The conversation (window, last message) is the customer's key's, wherever replies go now.
    const conversation = await conversations.getConversation(phone.phoneId, customerKey);

    let parts: Part[];
    const shortcode = parseShortcode(job.text, { bare: false });
    if (shortcode) {
      const resolved = await templateFor(waba.wabaId, shortcode);
      if (!resolved.ok)
        return noteToOperator(route, job, "template", `Not sent: ${resolved.problem}`, attempt);
      const refusal = await templateRefusal(resolved.category, recipient, scope, customerKey);
      if (refusal) return noteToOperator(route, job, "template", `Not sent: ${refusal}`, attempt);
      parts = [{ key: "template", build: async () => ({ type: "template", template: resolved.template }) }];
    } else {
      const last = conversation?.lastInboundAt ? new Date(conversation.lastInboundAt) : undefined;
      if (!isServiceWindowOpen(last, clock.now()))
        return noteToOperator(route, job, "window", windowClosedNote(), attempt);
      const disk = await filesFromDisk(bitrix, job);
      if (disk.problems.length > 0) {
        const note = `Not sent to WhatsApp: ${disk.problems.join("; ")}.`;
        await noteToOperator(route, job, "disk-files", note, attempt);
      }
      parts = plainParts({ ...job, files: [...job.files, ...disk.files] }, phone.phoneId, target);
      if (parts.length === 0) return disk.problems.length > 0 ? "noted" : "empty";
    }

    await acknowledgeCustomer(phone, customerKey, target);
    const origin = {
      kind: "openlines" as const,
      lineId: job.lineId,
      chatId: job.chatId,
      imChatId: job.im.chatId,
      imMessageId: job.im.messageId,
    };
    const outcome = await sendParts(
      {
        jobId: job.id,
        memberId: job.memberId,
        phoneId: phone.phoneId,
        recipient,
        customerKey,
        target,
        waba,
        origin,
      },
      parts,
      attempt,
    );
    if (outcome.sent === "failed") {
      const { error, part } = outcome;
      if (!(error instanceof GraphApiError)) {
        return noteToOperator(route, job, `error:${part}`, `Not sent: ${error.message}`, attempt);
      }
      if (error.graphCode === MARKETING_STOPPED) {
        // Meta knew of the opt-out before we did: remember it, and tell the operator the same as ours.
        const at = clock.now().toISOString();
        await customers.setMarketingPreference(scope, customerKey, { value: "stop", at });
        const refusal = await templateRefusal("MARKETING", recipient, scope, customerKey);
        return noteToOperator(route, job, `error:${part}`, `Not sent: ${refusal}`, attempt);
      }
      const explained = explainMetaError(error.graphCode ?? 0, undefined, error.message);
      const advice = error.graphCode === WINDOW_CLOSED ? windowClosedNote() : explained.advice;
      return noteToOperator(
        route,
        job,
        `error:${part}`,
        `Not sent (${error.graphCode ?? "HTTP"}: ${explained.title}). ${advice}`,
        attempt,
      );
    }
    return outcome.sent;
  }

  /**
   * The operator is answering: the customer's last message shows as read and, if the number says so, the
   * typing indicator shows until the reply lands. Neither may hold the reply back, so a refusal is logged.
   */
  async function acknowledgeCustomer(phone: PhoneRecord, customerKey: string, target: GraphTarget) {
    if (!phone.readReceipts) return;
    try {
      // Found among the delivered markers (one query): nothing is written per inbound message for it.
      const latest = await conversations.latestInbound(phone.phoneId, customerKey);
      if (!latest) return;
      await graph.markRead(phone.phoneId, latest.wamid, phone.typingIndicator, target);
    } catch (error) {
      logger.warn("read receipt not sent", {
        phoneId: phone.phoneId,
        code: error instanceof GraphApiError ? error.graphCode : undefined,
        message: error instanceof Error ? error.message : String(error),
      });
    }
  }

  /** Finds the template a shortcode names (refreshing Meta's list once when it is not cached) and fills it. */
  async function templateFor(wabaId: string, shortcode: ParsedShortcode) {
    let found = findTemplate(await templates.templates(wabaId), shortcode.name, shortcode.language);
    if (!found.ok)
      found = findTemplate(
        await templates.templates(wabaId, { refresh: true }),
        shortcode.name,
        shortcode.language,
      );
    if (!found.ok) return { ok: false as const, problem: found.problem };
    const built = buildTemplateMessage(shortcode, found.template);
    if (!built.ok)
      return { ok: false as const, problem: `${built.problem} Write it as: ${built.expectedForm}` };
    return { ok: true as const, template: built.template, category: found.template.category };
  }

  /**
   * Refusals Meta would answer anyway, told before Meta is called: an authentication template needs a
   * phone (131062 for a BSUID recipient), and a customer who stopped marketing messages gets none (131050).
   */
  async function templateRefusal(
    category: string | undefined,
    recipient: { to: string } | { recipient: string },
    scope: string,
    customerKey: string,
  ): Promise<string | undefined> {
    const kind = category?.toUpperCase();
    if (kind === "AUTHENTICATION" && !("to" in recipient)) {
      return "an authentication template needs the customer's phone number, and WhatsApp has not shared it (only their user id). Ask the customer for their number, or send another kind of template.";
    }
    if (kind === "MARKETING") {
      const preference = await customers.getMarketingPreference(scope, customerKey);
      if (preference?.value === "stop") {
        return `the customer stopped marketing messages from this business on ${preference.at.slice(0, 10)}; WhatsApp would refuse it (131050). Utility and authentication templates still go.`;
      }
    }
    return undefined;
  }

  /**
   * Sends the parts in order, each once: its wamid is recorded against the job, so a retry skips what went.
   * Meta's transient errors are thrown for the queue to retry (until the last attempt); the rest come back.
   */
  async function sendParts(
    ctx: {
      jobId: string;
      memberId: string;
      phoneId: string;
      recipient: { to: string } | { recipient: string };
      /** The customer's key, when it is not the address we send to. */
      customerKey?: string;
      target: GraphTarget;
      waba: WabaRecord;
      origin: OutboundRecord["origin"];
    },
    parts: Part[],
    attempt: Attempt,
  ): Promise<
    | { sent: "sent" | "duplicate" }
    | { sent: "failed"; error: GraphApiError | PermanentDeliveryError; part: string }
  > {
    let sent = 0;
    for (const part of parts) {
      const partId = `${ctx.jobId}:${part.key}`;
      // No lease is written before the send: the queue worker works on a record only while no other
      // worker can have it (see stillHeld in queue-worker.ts), and a job's copies share one FIFO group.
      if (await conversations.getOutboundPart(partId)) continue;
      try {
        const built = await part.build();
        const wamid = await graph.sendMessage(ctx.phoneId, { ...ctx.recipient, ...built }, ctx.target);
        await conversations.putOutboundPart(partId, wamid);
        const snippet = snippetOf(sentText(built));
        await conversations.putOutbound({
          wamid,
          phoneId: ctx.phoneId,
          memberId: ctx.memberId,
          customerId: ctx.customerKey ?? ("to" in ctx.recipient ? ctx.recipient.to : ctx.recipient.recipient),
          status: "accepted",
          origin: ctx.origin,
          createdAt: clock.now().toISOString(),
          ...(snippet ? { snippet } : {}),
        });
        sent++;
      } catch (error) {
        if (
          error instanceof GraphApiError &&
          error.graphCode === undefined &&
          /unreachable/.test(error.message)
        ) {
          // Meta may have taken it before the answer was lost, and it offers no way to ask: the retry
          // may reach the customer twice. Counted, like Bitrix24's ambiguous sends.
          (deps.metrics ?? noMetrics).count(metricNames.graphTimeouts, 1, { portal: ctx.memberId });
        }
        // A file we may not or cannot fetch is the operator's to know about, like Meta's refusals —
        // also one that kept failing until the last attempt.
        if (error instanceof PermanentDeliveryError) return { sent: "failed", error, part: part.key };
        if (error instanceof RetryLaterError && attempt.last) {
          return { sent: "failed", error: new PermanentDeliveryError(error.message), part: part.key };
        }
        if (!(error instanceof GraphApiError)) throw error;
        if (error.transient && !attempt.last) throw error;
        if (error.graphCode === INVALID_TOKEN) await markTokenInvalid(ctx.waba, error);
        return { sent: "failed", error, part: part.key };
      }
    }
    return { sent: sent > 0 ? "sent" : "duplicate" };
  }

  /**
   * A CRM SMS or robot message: a template (`NAME+LANG[+…]`, bare or `template-` form), or plain text
   * when the customer's 24-hour window is open. Bitrix24 hears `failed` when it cannot go out, and
   * `delivered` later from Meta's status.
   */
  async function sendSms(job: SmsJob, attempt: Attempt): Promise<OutboundOutcome> {
    const fail = async (reason: string) => {
      logger.warn("SMS not sent", { memberId: job.memberId, messageId: job.messageId, reason });
      if (job.robot) {
        await reportToRobot(job.memberId, job.robot.eventToken, { status: "failed", error: reason });
        return "failed" as const;
      }
      await bitrix.call(job.memberId, "messageservice.message.status.update", {
        CODE: job.code,
        MESSAGE_ID: job.messageId,
        STATUS: "failed",
      });
      return "failed" as const;
    };
    const phone = await bitrixStore.getPhone(job.phoneId);
    const to = toE164(job.to)?.slice(1);
    if (!phone || phone.memberId !== job.memberId) return fail(`phone ${job.phoneId} is not on this portal`);
    if (!to) return fail(`${job.to} is not a phone number`);
    const waba = await store.getWaba(phone.wabaId);
    const app = waba && (await store.getApp(waba.appId));
    if (!waba || !app) return fail(`WABA ${phone.wabaId} or its app is not configured`);
    const target = { accessToken: waba.accessToken, graphApiVersion: app.graphApiVersion };
    let parts: Part[];
    const scope = await directory.scopeOf(phone.wabaId);
    const customerKey = (await directory.resolve(scope, { phone: to }))?.key ?? to;
    const shortcode = parseShortcode(job.text, { bare: true });
    if (shortcode) {
      const resolved = await templateFor(waba.wabaId, shortcode);
      if (!resolved.ok) return fail(resolved.problem);
      const refusal = await templateRefusal(resolved.category, { to }, scope, customerKey);
      if (refusal) return fail(refusal);
      parts = [{ key: "template", build: async () => ({ type: "template", template: resolved.template }) }];
    } else {
      const conversation = await conversations.getConversation(phone.phoneId, customerKey);
      const last = conversation?.lastInboundAt ? new Date(conversation.lastInboundAt) : undefined;
      if (!isServiceWindowOpen(last, clock.now()))
        return fail("the 24-hour window is closed and the text is no template");
      parts = splitForWhatsApp(job.text).map((text, i) => ({
        key: `text:${i}`,
        build: async () => ({ type: "text", text: { body: text } }),
      }));
      if (parts.length === 0) return fail("empty message");
    }
    const origin = job.robot
      ? { kind: "robot" as const }
      : { kind: "sms" as const, code: job.code, messageId: job.messageId };
    const outcome = await sendParts(
      {
        jobId: job.id,
        memberId: job.memberId,
        phoneId: phone.phoneId,
        recipient: { to },
        target,
        waba,
        origin,
      },
      parts,
      attempt,
    );
    if (outcome.sent === "failed") {
      const { error } = outcome;
      return fail(
        error instanceof GraphApiError
          ? `Meta refused it (${error.graphCode ?? "HTTP"}: ${error.message})`
          : error.message,
      );
    }
    if (job.robot) await reportToRobot(job.memberId, job.robot.eventToken, { status: "sent", error: "" });
    return outcome.sent;
  }

  /** The robot's RETURN_PROPERTIES (`status`, `error`) through `bizproc.event.send` (bizproc-event-send.md). */
  async function reportToRobot(
    memberId: string,
    eventToken: string,
    values: { status: string; error: string },
  ) {
    await bitrix.call(memberId, "bizproc.event.send", {
      EVENT_TOKEN: eventToken,
      RETURN_VALUES: values,
      LOG_MESSAGE: values.error ? `WhatsApp: not sent — ${values.error}` : "WhatsApp: template sent",
    });
  }

  /** Only if nobody changed the WABA since we read it: an admin may just have patched in a new token. */
  async function markTokenInvalid(waba: WabaRecord, error: GraphApiError): Promise<void> {
    await store.flagWabaToken(waba.wabaId, waba.updatedAt, {
      tokenStatus: "invalid",
      subscribeError: { code: error.graphCode, message: error.message },
      updatedAt: clock.now().toISOString(),
    });
  }

  return { sendOperatorMessage, sendSms };
}

/** Enough of a file's start to tell its type by its bytes. */
const FILE_TYPE_BYTES = 16;

/** The stream's first `bytes` (fewer if it is shorter), and the whole stream again, from its start. */
async function peek(stream: Readable, bytes: number): Promise<{ head: Buffer; body: Readable }> {
  const iterator = stream[Symbol.asyncIterator]();
  const seen: Buffer[] = [];
  let length = 0;
  while (length < bytes) {
    const next = await iterator.next();
    if (next.done) break;
    seen.push(next.value as Buffer);
    length += (next.value as Buffer).length;
  }
  async function* whole() {
    yield* seen;
    for (let next = await iterator.next(); !next.done; next = await iterator.next())
      yield next.value as Buffer;
  }
  return {
    head: Buffer.concat(seen).subarray(0, bytes),
    body: Readable.from(whole(), { objectMode: false }),
  };
}
