import { formString } from "./bitrix-connector.ts";
import { asMimeType, mimeFromName } from "./file-type.ts";

/**
 * An operator's message from Bitrix24 Open Lines on its way to WhatsApp: one per Bitrix24 message,
 * travelling through the outbound FIFO queue (one group per chat, so a conversation keeps its order).
 */
export interface OperatorFile {
  readonly name: string;
  readonly link: string;
  readonly mime?: string;
  readonly size?: number;
  /**
   * The link carries the portal's own access token (`disk.file.get`'s DOWNLOAD_URL, `auth=…`): ours to
   * fetch, never to pass on, so the file goes as media or the operator is told why it did not go.
   */
  readonly privateLink?: boolean;
}

export interface OutboundJob {
  readonly v: 1;
  /** `message`: send it; `edited`/`deleted`: tell the operator WhatsApp cannot follow. */
  readonly kind: "message" | "edited" | "deleted";
  /** `<member_id>:<Bitrix message id>`: the deduplication key everywhere downstream. */
  readonly id: string;
  readonly memberId: string;
  readonly lineId: number;
  /** The connector chat id — the customer's Open Lines user id (`wa:<wa_id>`). */
  readonly chatId: string;
  readonly im: { readonly chatId: string; readonly messageId: string };
  /** BBCode, with the operator's signature when the line adds it. */
  readonly text: string;
  readonly files: readonly OperatorFile[];
  /**
   * Disk file ids of an event that names its files only in `params[FILE_ID]` (no `files[]`): fetched
   * through the REST API (`disk.file.get`) when the message is sent.
   */
  readonly fileIds?: readonly string[];
}

/**
 * A CRM SMS or robot message Bitrix24 handed to our SMS provider: sent to WhatsApp as a template (or, in
 * the 24-hour window, as text), its fate reported back with `messageservice.message.status.update`.
 */
export interface SmsJob {
  readonly v: 1;
  readonly kind: "sms";
  /** `<member_id>:sms:<message_id>`. */
  readonly id: string;
  readonly memberId: string;
  readonly phoneId: string;
  /** Our sender code, which names the phone (the handler call names no sender number). */
  readonly code: string;
  /** Bitrix24's id of the message, for status updates. */
  readonly messageId: string;
  /** The recipient as the CRM stores it; normalised by the worker. */
  readonly to: string;
  readonly text: string;
  /** Sent for the CRM robot: its result goes back with `bizproc.event.send`, not as an SMS status. */
  readonly robot?: { readonly eventToken: string };
}

export type QueueJob = OutboundJob | SmsJob;

export function outboundGroupOf(job: QueueJob): string {
  return job.kind === "sms"
    ? `${job.memberId}:sms:${job.to.replace(/\D/g, "")}`
    : `${job.memberId}:${job.lineId}:${job.chatId}`;
}

/** The WhatsApp recipient behind a connector chat id: a phone (`to`) or a business-scoped user id. */
export function recipientOf(chatId: string): { to: string } | { recipient: string } | undefined {
  const phone = /^wa:(\d{6,20})$/.exec(chatId);
  if (phone?.[1]) return { to: phone[1] };
  const user = /^wa:user:(.+)$/.exec(chatId);
  return user?.[1] ? { recipient: user[1] } : undefined;
}

type Json = Record<string, unknown>;

/**
 * Jobs from an ONIMCONNECTORMESSAGEADD/UPDATE/DELETE event's `data` (form-decoded, so every scalar is a
 * string and empty arrays are gone): one job per message, files with their download links.
 */
export function jobsFromConnectorEvent(
  event: string,
  memberId: string,
  data: unknown,
  ts: string,
): OutboundJob[] {
  const d = (data ?? {}) as Json;
  const kind =
    event === "ONIMCONNECTORMESSAGEUPDATE"
      ? "edited"
      : event === "ONIMCONNECTORMESSAGEDELETE"
        ? "deleted"
        : "message";
  const lineId = Number(formString(d.LINE));
  const messages = Object.values((d.MESSAGES ?? {}) as Json) as Json[];
  return messages.flatMap((m): OutboundJob[] => {
    const im = (m.im ?? {}) as Json;
    const message = (m.message ?? {}) as Json;
    const chat = (m.chat ?? {}) as Json;
    const messageId = formString(im.message_id);
    if (!messageId || !formString(chat.id) || !Number.isFinite(lineId)) return [];
    const files = Object.values((message.files ?? {}) as Json)
      .map((f) => f as Json)
      .map((f) => {
        const name = formString(f.name) || "file";
        return {
          name,
          // The documented payload carries both; `downloadLink` is the one meant for downloading.
          link: formString(f.downloadLink) || formString(f.link),
          // `type` is often a category (`image`), not a MIME type: then the name tells.
          mime: asMimeType(formString(f.mime)) ?? asMimeType(formString(f.type)) ?? mimeFromName(name),
          size: formString(f.size) ? Number(formString(f.size)) : undefined,
        };
      })
      .filter((f) => f.link);
    const params = (message.params ?? {}) as Json;
    const fileIds =
      files.length === 0
        ? (typeof params.FILE_ID === "object" && params.FILE_ID !== null
            ? Object.values(params.FILE_ID as Json)
            : [params.FILE_ID]
          )
            .map(formString)
            .filter((id) => /^\d+$/.test(id))
        : [];
    return [
      {
        v: 1,
        kind,
        // An edit or delete of the same message can happen more than once; `ts` tells them apart.
        id: `${memberId}:${messageId}${kind === "message" ? "" : `:${kind}:${ts}`}`,
        memberId,
        lineId,
        chatId: formString(chat.id),
        im: { chatId: formString(im.chat_id), messageId },
        text: formString(message.text),
        files,
        ...(fileIds.length > 0 ? { fileIds } : {}),
      },
    ];
  });
}
