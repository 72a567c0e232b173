import type { Readable } from "node:stream";
import type { MetaTemplate } from "../domain/template-shortcode.ts";

export interface GraphTarget {
  readonly accessToken: string;
  readonly graphApiVersion: string;
}

export interface MediaUpload {
  /** The file as it is read: nothing holds it whole. */
  readonly body: Readable | Uint8Array;
  readonly mimeType: string;
  readonly fileName: string;
}

export interface MediaInfo {
  readonly url: string;
  readonly mimeType?: string;
  readonly fileSize?: number;
}

/**
 * The `calling` object of `POST /{phone-number-id}/settings` that this bridge sends (meta-whatsapp.md
 * §6.1): uppercase statuses; `servers` omitted leaves Meta's configured server as it is, and an empty
 * list would delete it (and with it the Meta-generated SIP password), so it is never sent empty.
 */
export interface CallingSettingsRequest {
  readonly calling: {
    readonly status: "ENABLED" | "DISABLED";
    readonly sip: {
      readonly status: "ENABLED" | "DISABLED";
      readonly servers?: readonly { readonly hostname: string; readonly port: number }[];
    };
  };
}

export interface MetaGraph {
  /** `POST /{waba-id}/subscribed_apps`: without it Meta sends the app no webhooks for the WABA. */
  subscribeApp(wabaId: string, target: GraphTarget): Promise<void>;
  /** `GET /{media-id}`: where to download a received file (the URL lives about five minutes). */
  getMedia(mediaId: string, target: GraphTarget): Promise<MediaInfo>;
  /**
   * The media's bytes as they arrive: the stream fails with BodyTooLargeError (and the transfer stops)
   * one byte past `maxBytes`. Read it at once: the URL lives about five minutes.
   */
  download(
    url: string,
    target: GraphTarget,
    maxBytes: number,
  ): Promise<{ body: Readable; contentType?: string; contentLength?: number }>;
  /**
   * `GET /{waba-id}/message_templates`, every page (following `paging.next`, which must stay on the
   * configured Graph origin): all of the WABA's templates in Meta's order.
   */
  listTemplates(wabaId: string, target: GraphTarget): Promise<MetaTemplate[]>;
  /** `POST /{phone-number-id}/messages`; resolves to the new message's wamid. */
  sendMessage(phoneId: string, message: Record<string, unknown>, target: GraphTarget): Promise<string>;
  /**
   * `POST /{phone-number-id}/messages` with `status: "read"`: the customer's message shows as read; with
   * `typing` the customer also sees the typing indicator until the reply arrives (or 25 s pass).
   */
  markRead(phoneId: string, wamid: string, typing: boolean, target: GraphTarget): Promise<void>;
  /** `POST /{phone-number-id}/media` (multipart, streamed as it is read); resolves to the media id to send. */
  uploadMedia(phoneId: string, file: MediaUpload, target: GraphTarget): Promise<string>;
  /**
   * `POST /{phone-number-id}/settings` (Meta answers `{"success": true}`).
   * @throws GraphApiError with Meta's `graphCode`; `details.details` is Meta's `error_data.details`.
   */
  updateCallingSettings(
    phoneId: string,
    settings: CallingSettingsRequest,
    target: GraphTarget,
  ): Promise<void>;
}
