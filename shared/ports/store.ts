import type { InboundEvent } from "../domain/inbound-event.ts";

export interface Page<T> {
  readonly items: T[];
  readonly nextCursor?: string;
}

/** A Meta developer app. `appSecret` is plaintext here; adapters encrypt it at rest. */
export interface AppRecord {
  readonly appId: string;
  readonly name: string;
  readonly appSecret: string;
  readonly domains: string[];
  readonly graphApiVersion: string;
  readonly verifyToken: string;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export interface WabaRecord {
  readonly wabaId: string;
  readonly name: string;
  readonly appId: string;
  readonly accessToken: string;
  /** The business portfolio: the scope of its customers' business-scoped user ids (see aliasScopeOf). */
  readonly businessId?: string;
  readonly subscribed: boolean;
  readonly subscribeError: { code?: number; message: string } | null;
  readonly tokenStatus: "valid" | "invalid" | "unknown";
  readonly createdAt: string;
  readonly updatedAt: string;
}

export interface AppStore {
  /** @throws ConflictError when the app id exists. */
  createApp(app: AppRecord): Promise<void>;
  getApp(appId: string): Promise<AppRecord | undefined>;
  listApps(cursor?: string, limit?: number): Promise<Page<AppRecord>>;
  /** Replaces the app, keeping its domain index in step. @throws NotFoundError */
  updateApp(app: AppRecord, previous: AppRecord): Promise<void>;
  deleteApp(app: AppRecord): Promise<void>;
  findAppsByDomain(host: string): Promise<AppRecord[]>;
  findAppByVerifyToken(verifyToken: string): Promise<AppRecord | undefined>;
}

export interface WabaStore {
  /** @throws ConflictError when the WABA id exists. */
  createWaba(waba: WabaRecord): Promise<void>;
  getWaba(wabaId: string): Promise<WabaRecord | undefined>;
  listWabas(cursor?: string, limit?: number): Promise<Page<WabaRecord>>;
  countWabasOfApp(appId: string): Promise<number>;
  putWaba(waba: WabaRecord): Promise<void>;
  /** Sets the token flags only if the WABA is unchanged since `expectedUpdatedAt`; false otherwise. */
  flagWabaToken(
    wabaId: string,
    expectedUpdatedAt: string,
    flags: Pick<WabaRecord, "tokenStatus" | "subscribeError" | "updatedAt">,
  ): Promise<boolean>;
  deleteWaba(wabaId: string): Promise<void>;
}

export interface InboundEventStore {
  /** Conditional write keyed on the event id: `duplicate` when it was recorded before. */
  recordInboundEvent(event: InboundEvent, receivedAt: Date): Promise<"stored" | "duplicate">;
}

export interface Store extends AppStore, WabaStore, InboundEventStore {
  /** A cheap round trip proving the table is reachable. */
  ping(): Promise<void>;
}
