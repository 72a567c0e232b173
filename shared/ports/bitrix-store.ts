import type { Page } from "./store.ts";

/** The OAuth client of a Bitrix24 local or Market app; `clientSecret` is plaintext here. */
export interface BitrixAppRecord {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly name: string;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export interface PortalTokens {
  readonly accessToken: string;
  readonly refreshToken: string;
  /** Unix seconds. */
  readonly expiresAt: number;
  /** Grows by one with every refresh: the refresh lock and the losers' "has it moved on?" test. */
  readonly version: number;
  /**
   * The app's technical system user's tokens (ONAPPUSERREADY), not a person's: they outlive the
   * installing admin, so later installs and updates keep them.
   */
  readonly systemUser?: boolean;
}

/** A Bitrix24 portal where our app is installed, keyed by `member_id` (domains can change). */
export interface PortalRecord {
  readonly memberId: string;
  readonly domain: string;
  /** `https://portal.bitrix24.com/rest/` — where REST calls go. */
  readonly clientEndpoint: string;
  readonly serverEndpoint?: string;
  readonly clientId: string;
  readonly applicationToken: string;
  /** Random per-portal secret carried in the handler URLs we register with Bitrix24. */
  readonly handlerSecret: string;
  /** The origin Bitrix24 reached us at during install: base of the handler URLs we register. */
  readonly handlerBaseUrl: string;
  readonly status: "installed" | "uninstalled";
  readonly licenseFamily?: string;
  readonly tokens: PortalTokens | null;
  /**
   * Administrators who installed the app (the OAuth server's `user_id` of a token `user.admin` confirmed):
   * they get the system notifications of serious WhatsApp account events.
   */
  readonly adminUserIds?: readonly number[];
  /** Outcome of the last set-up (event bindings, connector registration); null when it succeeded. */
  readonly setupError: string | null;
  readonly installedAt: string;
  readonly updatedAt: string;
  /** Set by the store and grown by every whole-record write: what a conditional save compares. */
  readonly revision?: number;
}

export type ConnectorStatus = "active" | "pending" | "error";

/**
 * The number's calling / SIP settings as last asked for through the admin API (always what was asked,
 * even when Meta refused it), and Meta's refusal: `error` is null when Meta applied them. `code` is
 * Meta's error code, null when Meta could not be reached; `details` is Meta's `error_data.details`.
 */
export interface PhoneCalling {
  readonly calling: "enabled" | "disabled";
  readonly sip: { status: "enabled" | "disabled"; host: string | null; port: number };
  readonly error: { code: number | null; message: string; details?: string } | null;
  readonly updatedAt: string;
}

export interface PhoneRecord {
  readonly phoneId: string;
  /** E.164 with the plus sign. */
  readonly phone: string;
  readonly wabaId: string;
  readonly memberId: string;
  readonly smsService: boolean;
  readonly line: { id: number; name: string } | null;
  readonly connector: { status: ConnectorStatus; error?: string };
  readonly smsSender: { code: string; status: "registered" | "error"; error?: string } | null;
  /** When an operator replies, the customer's last message is marked as read (WhatsApp's blue ticks). */
  readonly readReceipts: boolean;
  /** The reply is announced with WhatsApp's typing indicator (it rides on the read receipt). */
  readonly typingIndicator: boolean;
  /** Absent until calling settings are first put through the admin API. */
  readonly calling?: PhoneCalling;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export interface BitrixStore {
  createBitrixApp(app: BitrixAppRecord): Promise<void>;
  getBitrixApp(clientId: string): Promise<BitrixAppRecord | undefined>;
  listBitrixApps(cursor?: string, limit?: number): Promise<Page<BitrixAppRecord>>;
  deleteBitrixApp(clientId: string): Promise<void>;

  getPortal(memberId: string): Promise<PortalRecord | undefined>;
  listPortals(cursor?: string, limit?: number): Promise<Page<PortalRecord>>;
  putPortal(portal: PortalRecord): Promise<void>;
  /**
   * Writes the portal only if the stored one is still `previous` as it was read (absent when undefined);
   * false when another write came in between, so the caller reads again and merges.
   */
  savePortal(portal: PortalRecord, previous: PortalRecord | undefined): Promise<boolean>;
  deletePortal(memberId: string): Promise<void>;
  setPortalSetupError(memberId: string, setupError: string | null): Promise<void>;
  /** Takes the refresh lease when tokens are still at `version` and nobody holds an unexpired lease. */
  acquireRefreshLease(
    memberId: string,
    version: number,
    leaseUntilMs: number,
    nowMs: number,
  ): Promise<boolean>;
  /** Stores refreshed tokens (version + 1) and releases the lease, if tokens are still at `version`. */
  saveRefreshedTokens(memberId: string, previousVersion: number, tokens: PortalTokens): Promise<boolean>;
  releaseRefreshLease(memberId: string): Promise<void>;

  /** @throws ConflictError when the phone id exists. */
  createPhone(phone: PhoneRecord): Promise<void>;
  getPhone(phoneId: string): Promise<PhoneRecord | undefined>;
  listPhones(cursor?: string, limit?: number): Promise<Page<PhoneRecord>>;
  /** Saves the phone and keeps the (portal, line) → phone look-up in step with it. */
  putPhone(phone: PhoneRecord, previous: PhoneRecord | undefined): Promise<void>;
  deletePhone(phone: PhoneRecord): Promise<void>;
  findPhoneByLine(memberId: string, lineId: number): Promise<PhoneRecord | undefined>;
  /** Sets only the connector status (a worker's view must not overwrite an admin's concurrent change). */
  setPhoneConnector(phoneId: string, connector: PhoneRecord["connector"], updatedAt: string): Promise<void>;
  /** Sets only the calling settings (and `updatedAt`). @throws NotFoundError when the phone is gone. */
  setPhoneCalling(phoneId: string, calling: PhoneCalling): Promise<void>;
  /** A renamed portal's new REST address, without touching its tokens (a refresh may be under way). */
  movePortalEndpoint(memberId: string, clientEndpoint: string, domain: string): Promise<void>;
  listPhonesOfPortal(memberId: string): Promise<PhoneRecord[]>;
}
