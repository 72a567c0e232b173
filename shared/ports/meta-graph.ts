export interface GraphTarget {
  readonly accessToken: string;
  readonly graphApiVersion: string;
}

export interface MediaInfo {
  readonly url: string;
  readonly mimeType?: string;
  readonly fileSize?: number;
}

export interface MetaGraph {
  /** `POST /{waba-id}/subscribed_apps`: without it Meta sends the app no webhooks for the WABA. */
  subscribeApp(wabaId: string, target: GraphTarget): Promise<void>;
  /** `GET /{media-id}`: where to download a received file (the URL lives about five minutes). */
  getMedia(mediaId: string, target: GraphTarget): Promise<MediaInfo>;
  download(
    url: string,
    target: GraphTarget,
    maxBytes: number,
  ): Promise<{ bytes: Buffer; contentType?: string }>;
}
