export interface GraphTarget {
  readonly accessToken: string;
  readonly graphApiVersion: string;
}

export interface MetaGraph {
  /** `POST /{waba-id}/subscribed_apps`: without it Meta sends the app no webhooks for the WABA. */
  subscribeApp(wabaId: string, target: GraphTarget): Promise<void>;
}
