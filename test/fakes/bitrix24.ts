/**
 * Loopback fake of Bitrix24 portals' REST API (`client_endpoint` = `${fake.url}/rest/`) and of the two
 * regional Bitrix24 OAuth servers, each on its own origin like oauth.bitrix.info (west) and
 * oauth.bitrix24.tech (east) (b24phpsdk `Core/Credentials/DefaultOAuthServerUrl.php`): `server_endpoint` =
 * `${oauthServer.url}/rest/`, token refresh at `${oauthServer.url}/oauth/token/`, token verification at
 * `${oauthServer.url}/rest/app.info`. A server knows only the tokens of its region's portals. It keeps
 * per-portal state (tokens, event bindings, connectors, open lines, SMS senders), answers with the
 * documented shapes (`test/fixtures/bitrix/*.json`) and builds the exact form-encoded bodies Bitrix24
 * POSTs to an app (events, install page, SMS handler).
 */
import { randomBytes } from "node:crypto";
import qs from "qs";
import { fixtureJson } from "../fixtures.ts";
import type { FakeResponse, HttpFakeOptions, RecordedRequest } from "./http-fake.ts";
import { HttpFake } from "./http-fake.ts";

type Params = Record<string, unknown>;

export interface BitrixErrorBody {
  error: string;
  error_description: string;
}

export interface BitrixPortalInput {
  memberId?: string;
  /** Portal domain as events report it (default: the fake's `host:port`, so the install page's `DOMAIN` reaches the fake). */
  domain?: string;
  /** OAuth client of the app (`local.xxx.yyy` for a local app, `app.xxx.yyy` for a Market app). */
  clientId?: string;
  clientSecret?: string;
  applicationToken?: string;
  /** Initial tokens (default: random). */
  accessToken?: string;
  refreshToken?: string;
  /** Bitrix user the tokens belong to (the installing admin). */
  userId?: number;
  /** Whether that user is a portal administrator (`user.admin`; default true). */
  admin?: boolean;
  /** Granted scopes, comma-separated. */
  scope?: string;
  /** App status: L (local), F, D, T, P, S. Default `L` for `local.*` client ids, else `F`. */
  status?: string;
  appVersion?: number;
  /** `app.info` CODE (default: the client id, as for local apps). */
  appCode?: string;
  languageId?: string;
  /** e.g. `ent` for Enterprise (its real limit is 5/s, burst 250). */
  licenseFamily?: string;
  /** `app.info` INSTALLED (false until `BX24.installFinish()` in reality). */
  installed?: boolean;
  /** Which OAuth server the portal belongs to (default west: oauth.bitrix.info). */
  region?: BitrixRegion;
}

/** West: oauth.bitrix.info; east (.ru/.kz/.by portals): oauth.bitrix24.tech. */
export type BitrixRegion = "west" | "east";

export interface BitrixTokens {
  memberId: string;
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
}

export interface PlacementBinding {
  placement: string;
  handler: string;
  title: string;
  options: Params;
}

/** An open-line chat the connector's messages created: `imopenlines.dialog.get`'s `entity_id` parts. */
interface OpenLineChat {
  memberId: string;
  connector: string;
  line: string;
  chatId: string;
  userId: string;
}

export interface EventBinding {
  id: number;
  event: string;
  handler: string;
  authType: string;
  offline: number;
}

export interface ConnectorLineStatus {
  connector: string;
  line: string;
  active: boolean;
  connection: boolean;
  register: boolean;
  error: boolean;
  /** Merged `imconnector.connector.data.set` DATA (upper-case keys). */
  data: Record<string, unknown>;
}

/** One `MESSAGES[i]` item of `imconnector.send|update|delete.messages`, keys lower-cased like the server. */
export interface ConnectorMessage {
  connector: string;
  line: string;
  user: Params;
  message: Params;
  chat: Params;
  /** The `DATA.RESULT[i]` element the fake answered with. */
  result: Params;
  at: number;
}

export interface ConnectorStatusReport {
  connector: string;
  line: string;
  items: Params[];
  at: number;
}

export interface SmsSender {
  CODE: string;
  TYPE: string;
  HANDLER: string;
  NAME: unknown;
  DESCRIPTION?: unknown;
}

export interface SmsStatusUpdate {
  code: string;
  messageId: string;
  status: string;
  at: number;
}

export interface BitrixPortal {
  memberId: string;
  domain: string;
  clientId: string;
  clientSecret: string;
  applicationToken: string;
  userId: number;
  admin: boolean;
  scope: string;
  status: string;
  appId: number;
  appCode: string;
  appVersion: number;
  languageId: string;
  licenseFamily: string;
  installed: boolean;
  region: BitrixRegion;
  /** The app's technical system user (ONAPPUSERREADY), and its current access token once issued. */
  systemUserId: number;
  systemUserAccessToken?: string;
  accessToken: string;
  refreshToken: string;
  /** Epoch ms at which the current access token expires. */
  accessExpiresAt: number;
  /** Successful refreshes so far. */
  refreshCount: number;
  events: EventBinding[];
  connectors: Map<string, Params>;
  lines: Map<string, Params>;
  lineStatus: Map<string, ConnectorLineStatus>;
  /** Messages delivered into open lines with `imconnector.send.messages`. */
  messages: ConnectorMessage[];
  updatedMessages: ConnectorMessage[];
  deletedMessages: ConnectorMessage[];
  deliveryStatuses: ConnectorStatusReport[];
  readingStatuses: ConnectorStatusReport[];
  /**
   * System notifications (`im.notify.system.add`): USER_ID, MESSAGE, TAG. A notification with a TAG
   * already present replaces the earlier ones
   * (https://github.com/bitrix24/b24restdocs/blob/main/api-reference/chats/notifications/im-notify-system-add.md).
   */
  notifications: { userId: number; message: string; tag?: string; at: number }[];
  /** `placement.bind` registrations (placement-bind.md; listed by placement.get as in placement-get.md). */
  placements: PlacementBinding[];
  /** Robots by CODE, as `bizproc.robot.add` / `.update` left them (the fields given, keys as sent). */
  robots: Map<string, Params>;
  /** `bizproc.event.send` calls: what robots heard back. */
  robotResults: Array<{ eventToken: string; returnValues: Params; logMessage: string }>;
  /** `im.message.add` calls: what users (or apps) wrote into chats through REST. */
  chatMessages: Array<{ dialogId: string; text: string; id: number; system: boolean }>;
  senders: Map<string, SmsSender>;
  /** SMS handed to the app (made by `messageserviceHandlerBody`): message_id → sender code. */
  smsMessages: Map<string, string>;
  smsStatuses: SmsStatusUpdate[];
  /** Files on the portal's Disk (`disk.file.get`), by id. */
  diskFiles: Map<string, { name: string; bytes: Buffer; downloadToken: string }>;
}

type Entries<M> = M extends Map<infer K, infer V> ? Array<[K, V]> : never;

export interface BitrixFakeSnapshot {
  counter: number;
  internalUsers: Array<[string, string]>;
  sessions: Array<[string, { ID: string; CHAT_ID: string }]>;
  portals: Array<
    Omit<BitrixPortal, "connectors" | "lines" | "lineStatus" | "senders" | "smsMessages"> & {
      connectors: Entries<BitrixPortal["connectors"]>;
      lines: Entries<BitrixPortal["lines"]>;
      lineStatus: Entries<BitrixPortal["lineStatus"]>;
      senders: Entries<BitrixPortal["senders"]>;
      smsMessages: Entries<BitrixPortal["smsMessages"]>;
    }
  >;
}

export interface QueryLimit {
  /** Drain rate of the leaky bucket (docs: 2/s; Enterprise 5/s). */
  perSecond: number;
  /** Bucket size; a request that would overflow it gets 503 QUERY_LIMIT_EXCEEDED (docs: 50; ent 250). */
  burst: number;
}

export interface BitrixFakeOptions extends HttpFakeOptions {
  /** Access token lifetime (docs: 1 hour). */
  accessTokenTtlSeconds?: number;
  /** Limit applied to every new portal (default: none; see `queryLimit`). */
  queryLimit?: QueryLimit;
  /** After a refresh the previous access token stops working (default true). */
  revokeAccessTokenOnRefresh?: boolean;
  /** Error a revoked (refreshed-away) access token gets: `expired_token` (default) or `invalid_token`. */
  revokedTokenError?: "expired_token" | "invalid_token";
  /**
   * Server code turns a line green on `imconnector.activate` alone; the docs say `connector.data.set` is
   * needed too. `true` follows the docs (STATUS stays false until data.set).
   */
  greenRequiresDataSet?: boolean;
  /** Ports of the OAuth servers (default: free ones); `npm run fakes` fixes them. */
  oauthPorts?: Partial<Record<BitrixRegion, number>>;
}

export interface EventBodyOptions {
  /** `ts` (default: now in seconds). */
  ts?: number | string;
  /** `event_handler_id` (default: the id of the matching `event.bind`, else 1). */
  eventHandlerId?: number;
  /** Overrides `auth[...]` values in place (keys not in the layout are appended; `null` removes a key). */
  auth?: Record<string, unknown>;
  /** The action was not done by a user (robot, workflow): no `access_token`/`expires*`/`refresh_token`. */
  withoutTokens?: boolean;
  /** Put a freshly issued (valid) access token in the event instead of the portal's current one. */
  issueToken?: boolean;
}

export interface SmsHandlerInput {
  code: string;
  messageTo: string;
  messageBody: string;
  /** 32-hex id Bitrix24 generates (default random). */
  messageId?: string;
  /** `module_id=crm` bindings (default one lead binding). */
  bindings?: Array<{ OWNER_TYPE_ID: number; OWNER_ID: number }>;
}

const QUERY_LIMIT_BODY = fixtureJson<BitrixErrorBody>("bitrix/error_query_limit_exceeded.json");
const EXPIRED_TOKEN_BODY = fixtureJson<BitrixErrorBody>("bitrix/error_expired_token.json");
const MESSAGES_EMPTY_BODY = fixtureJson<BitrixErrorBody>("bitrix/error_argument_messages_empty.json");
const NOT_ACTIVE_LINE_BODY = fixtureJson<BitrixErrorBody>("bitrix/error_not_active_line.json");
const STATUS_INCORRECT_BODY = fixtureJson<BitrixErrorBody>(
  "bitrix/error_messageservice_status_incorrect.json",
);

/** Built-in connectors every portal lists in `imconnector.list` (as in the docs example). */
const BUILTIN_CONNECTORS: Record<string, string> = {
  livechat: "Live Chat",
  telegrambot: "Telegram",
  network: "Bitrix24.Network",
};

const SMS_STATUSES = ["queued", "sent", "delivered", "undelivered", "failed"];

/** A REST error: thrown inside method implementations, answered as `{ error, error_description }`. */
export class BitrixError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, description: string) {
    super(description);
    this.name = "BitrixError";
    this.status = status;
    this.code = code;
  }
  static fromBody(status: number, body: BitrixErrorBody): BitrixError {
    return new BitrixError(status, body.error, body.error_description);
  }
  get body(): BitrixErrorBody {
    return { error: this.code, error_description: this.message };
  }
}

interface MethodResult {
  result: unknown;
  total?: number;
  next?: number;
}

interface CallContext {
  portal: BitrixPortal;
  /** The user the call's token belongs to. */
  userId: number;
  inBatch: boolean;
}

type Method = (ctx: CallContext, params: Params) => MethodResult | Promise<MethodResult>;

interface AccessTokenInfo {
  memberId: string;
  userId: number;
  expiresAt: number;
  revoked?: "refreshed" | "expired";
}

interface ScriptedFailure {
  method: string;
  memberId: string | undefined;
  remaining: number;
  error: BitrixError;
  /** Only calls whose parameters match fail (and count against `remaining`). */
  when: ((params: Params) => boolean) | undefined;
}

interface MessageRejection {
  match: (item: { user: Params; message: Params; chat: Params }) => boolean;
  errors: string[];
}

export class BitrixFake extends HttpFake {
  readonly #portals = new Map<string, BitrixPortal>();
  readonly #accessTokens = new Map<string, AccessTokenInfo>();
  readonly #refreshTokens = new Map<string, { memberId: string; userId: number; used: boolean }>();
  readonly #buckets = new Map<string, QueryLimit & { level: number; last: number }>();
  readonly #calls: Array<{ memberId: string; method: string }> = [];
  readonly #failures: ScriptedFailure[] = [];
  readonly #rejections = new Map<string, MessageRejection[]>();
  readonly #internalUsers = new Map<string, string>();
  readonly #sessions = new Map<string, { ID: string; CHAT_ID: string }>();
  /** Open-line chats by their IM chat id (the `session.CHAT_ID` of imconnector.send.messages). */
  readonly #openLineChats = new Map<string, OpenLineChat>();
  readonly #ttlMs: number;
  readonly #defaultLimit: QueryLimit | undefined;
  readonly #revokeOnRefresh: boolean;
  readonly #revokedError: "expired_token" | "invalid_token";
  readonly #greenRequiresDataSet: boolean;
  #counter = 0;
  readonly #methods: Record<string, Method>;
  /** The regional OAuth servers, each its own origin. */
  readonly oauthServers: Record<BitrixRegion, HttpFake>;

  constructor(options: BitrixFakeOptions = {}) {
    super(undefined, options);
    const { port: _ownPort, ...shared } = options;
    this.oauthServers = {
      west: new HttpFake((req) => this.#oauthServer(req, "west"), {
        ...shared,
        port: options.oauthPorts?.west,
      }),
      east: new HttpFake((req) => this.#oauthServer(req, "east"), {
        ...shared,
        port: options.oauthPorts?.east,
      }),
    };
    this.#ttlMs = (options.accessTokenTtlSeconds ?? 3600) * 1000;
    this.#defaultLimit = options.queryLimit;
    this.#revokeOnRefresh = options.revokeAccessTokenOnRefresh ?? true;
    this.#revokedError = options.revokedTokenError ?? "expired_token";
    this.#greenRequiresDataSet = options.greenRequiresDataSet ?? false;
    this.#methods = this.#methodTable();
  }

  /** The portal's REST base, as Bitrix24's `client_endpoint` (`https://portal.bitrix24.com/rest/`). */
  get clientEndpoint(): string {
    return `${this.url}/rest/`;
  }

  /** The west OAuth server's REST base, as Bitrix24's `server_endpoint` (`https://oauth.bitrix.info/rest/`). */
  get serverEndpoint(): string {
    return this.serverEndpointOf("west");
  }

  serverEndpointOf(region: BitrixRegion): string {
    return `${this.oauthServers[region].url}/rest/`;
  }

  /** The west OAuth server origin (a one-entry `BITRIX_OAUTH_URL`): `/oauth/token/` and `/rest/app.info`. */
  get oauthUrl(): string {
    return this.oauthServers.west.url;
  }

  /** Both OAuth servers, as `BITRIX_OAUTH_URLS` lists them (west first). */
  get oauthUrls(): string {
    return `${this.oauthServers.west.url},${this.oauthServers.east.url}`;
  }

  override async listen(): Promise<this> {
    await super.listen();
    await Promise.all([this.oauthServers.west.listen(), this.oauthServers.east.listen()]);
    return this;
  }

  override async close(): Promise<void> {
    await Promise.all([super.close(), this.oauthServers.west.close(), this.oauthServers.east.close()]);
  }

  /** `host:port` of the fake (what `DOMAIN` carries by default). */
  get host(): string {
    return new URL(this.url).host;
  }

  /** Installs the app on a new portal; returns its first token pair. */
  addPortal(input: BitrixPortalInput = {}): BitrixTokens {
    const memberId = input.memberId ?? hex(16);
    if (this.#portals.has(memberId)) throw new Error(`portal ${memberId} already exists`);
    const clientId =
      input.clientId ?? `local.${hex(7)}.${String(Math.floor(Math.random() * 1e8)).padStart(8, "0")}`;
    const portal: BitrixPortal = {
      memberId,
      domain: input.domain ?? this.host,
      clientId,
      clientSecret: input.clientSecret ?? randomBytes(30).toString("base64url").slice(0, 50),
      applicationToken: input.applicationToken ?? hex(16),
      userId: input.userId ?? 1,
      admin: input.admin ?? true,
      scope: input.scope ?? "imopenlines,imconnector,im,messageservice,placement,crm,user_brief",
      status: input.status ?? (clientId.startsWith("local.") ? "L" : "F"),
      appId: this.#portals.size + 1,
      appCode: input.appCode ?? clientId,
      appVersion: input.appVersion ?? 1,
      languageId: input.languageId ?? "en",
      licenseFamily: input.licenseFamily ?? "project",
      installed: input.installed ?? true,
      region: input.region ?? "west",
      systemUserId: 1000 + this.#portals.size + 1,
      accessToken: "",
      refreshToken: "",
      accessExpiresAt: 0,
      refreshCount: 0,
      events: [],
      connectors: new Map(),
      lines: new Map(),
      lineStatus: new Map(),
      messages: [],
      updatedMessages: [],
      deletedMessages: [],
      deliveryStatuses: [],
      readingStatuses: [],
      notifications: [],
      placements: [],
      robots: new Map(),
      robotResults: [],
      chatMessages: [],
      senders: new Map(),
      smsMessages: new Map(),
      smsStatuses: [],
      diskFiles: new Map(),
    };
    this.#portals.set(memberId, portal);
    if (this.#defaultLimit) this.queryLimit(memberId, this.#defaultLimit);
    this.#issueTokens(portal, input.accessToken, input.refreshToken);
    return this.#tokensOf(portal);
  }

  /**
   * Everything a restarted fake needs to go on where it stopped (`npm run fakes` keeps it in `.local/`):
   * the portals with their current tokens, lines, connectors, bindings and senders, and the id counter.
   * JSON-safe: Maps become entry lists.
   */
  snapshot(): BitrixFakeSnapshot {
    return {
      counter: this.#counter,
      internalUsers: [...this.#internalUsers],
      sessions: [...this.#sessions],
      portals: [...this.#portals.values()].map((p) => ({
        ...p,
        connectors: [...p.connectors],
        lines: [...p.lines],
        lineStatus: [...p.lineStatus],
        senders: [...p.senders],
        smsMessages: [...p.smsMessages],
      })),
    };
  }

  /** Takes back what `snapshot` returned (into a fake with no portals yet); the tokens keep working. */
  restore(saved: BitrixFakeSnapshot): void {
    this.#counter = saved.counter;
    for (const [k, v] of saved.internalUsers) this.#internalUsers.set(k, v);
    for (const [k, v] of saved.sessions) this.#sessions.set(k, v);
    for (const p of saved.portals) {
      const portal: BitrixPortal = {
        ...p,
        connectors: new Map(p.connectors),
        lines: new Map(p.lines),
        lineStatus: new Map(p.lineStatus),
        senders: new Map(p.senders),
        smsMessages: new Map(p.smsMessages),
      };
      this.#portals.set(portal.memberId, portal);
      if (this.#defaultLimit) this.queryLimit(portal.memberId, this.#defaultLimit);
      this.#registerTokens(portal);
    }
  }

  /** Live state of a portal (throws for an unknown member id). */
  portal(memberId: string): BitrixPortal {
    const portal = this.#portals.get(memberId);
    if (!portal) throw new Error(`unknown portal ${memberId}`);
    return portal;
  }

  get portals(): BitrixPortal[] {
    return [...this.#portals.values()];
  }

  /** The portal's current token pair. */
  tokens(memberId: string): BitrixTokens {
    return this.#tokensOf(this.portal(memberId));
  }

  /** The current access token now answers `expired_token` (as after its hour); refreshing still works. */
  expireTokens(memberId: string): void {
    const info = this.#accessTokens.get(this.portal(memberId).accessToken);
    if (info) info.revoked = "expired";
  }

  /** Leaky bucket for the portal's REST calls (`null` removes it). Bucket state starts empty. */
  queryLimit(memberId: string, limit: QueryLimit | null): void {
    this.portal(memberId);
    if (limit === null) this.#buckets.delete(memberId);
    else this.#buckets.set(memberId, { ...limit, level: 0, last: this.now() });
  }

  /** REST method invocations that passed auth and rate limit (batch and each of its commands count). */
  callCount(method?: string, memberId?: string): number {
    const name = method?.toLowerCase();
    return this.#calls.filter(
      (c) => (name === undefined || c.method === name) && (memberId === undefined || c.memberId === memberId),
    ).length;
  }

  /** Method names called so far, in order (for one portal or all). */
  calledMethods(memberId?: string): string[] {
    return this.#calls.filter((c) => memberId === undefined || c.memberId === memberId).map((c) => c.method);
  }

  /**
   * The next `times` calls of `method` (also inside `batch`) fail with this error, e.g.
   * `failMethod("imconnector.send.messages",
   *   { status: 500, error: "INTERNAL_SERVER_ERROR", error_description: "Internal server error" })`.
   * With `when`, only calls whose parameters it accepts fail.
   */
  failMethod(
    method: string,
    error: { status: number } & BitrixErrorBody,
    options: { times?: number; memberId?: string; when?: (params: Params) => boolean } = {},
  ): void {
    this.#failures.push({
      method: method.toLowerCase(),
      memberId: options.memberId,
      when: options.when,
      remaining: options.times ?? 1,
      error: new BitrixError(error.status, error.error, error.error_description),
    });
  }

  /** `imconnector.send.messages` answers `SUCCESS: false` with `ERRORS` for items matching `match`. */
  failMessagesWhere(
    memberId: string,
    match: (item: { user: Params; message: Params; chat: Params }) => boolean,
    errors: string[] = ["Message was not delivered"],
  ): void {
    const list = this.#rejections.get(memberId) ?? [];
    list.push({ match, errors });
    this.#rejections.set(memberId, list);
  }

  /** Puts a file on the portal's Disk (as a chat upload does); returns its id for `params[FILE_ID]`. */
  addDiskFile(memberId: string, file: { name: string; bytes: Buffer }): string {
    const portal = this.portal(memberId);
    this.#counter += 1;
    const id = String(9000 + this.#counter);
    portal.diskFiles.set(id, { ...file, downloadToken: `disk|${hex(12)}` });
    return id;
  }

  /** `DOWNLOAD_URL` of `disk.file.get`: `{portal}/rest/download.json?auth=…&token=disk|…` (docs example). */
  #diskDownload(req: RecordedRequest): FakeResponse {
    const token = str(parseQuery(req.queryString).token);
    for (const portal of this.#portals.values()) {
      for (const file of portal.diskFiles.values()) {
        if (file.downloadToken === token) {
          return { status: 200, body: file.bytes, headers: { "content-type": "application/octet-stream" } };
        }
      }
    }
    return { status: 404, body: "Not Found" };
  }

  /** Creates an open line without a REST call (as an admin would in the UI); returns its id. */
  addLine(memberId: string, params: Params = {}): number {
    return this.#createLine(this.portal(memberId), params);
  }

  /**
   * Clears recordings and scripted failures (requests, faults, `failMethod`, `failMessagesWhere`, call
   * counts, delivered messages, statuses); keeps portals, tokens and their setup.
   */
  override reset(): void {
    super.reset();
    this.#calls.length = 0;
    this.#failures.length = 0;
    this.#rejections.clear();
    for (const portal of this.#portals.values()) {
      portal.messages.length = 0;
      portal.updatedMessages.length = 0;
      portal.deletedMessages.length = 0;
      portal.deliveryStatuses.length = 0;
      portal.readingStatuses.length = 0;
      portal.notifications.length = 0;
      portal.smsStatuses.length = 0;
    }
  }

  // ---------------------------------------------------------------- bodies Bitrix24 POSTs to the app

  /**
   * The exact `application/x-www-form-urlencoded` body Bitrix24 POSTs to an event handler (PHP
   * `http_build_query` form, key order as in the documented examples / the PHP SDK's captured body).
   */
  eventBody(memberId: string, eventName: string, data: unknown, options: EventBodyOptions = {}): string {
    return httpBuildQuery(this.#eventPayload(this.portal(memberId), eventName.toUpperCase(), data, options));
  }

  /** `ONAPPINSTALL` as the installation callback / bound event receives it (carries refresh_token). */
  installEventBody(memberId: string, options: EventBodyOptions = {}): string {
    const portal = this.portal(memberId);
    const data = {
      VERSION: String(portal.appVersion),
      ACTIVE: "Y",
      INSTALLED: "Y",
      LANGUAGE_ID: portal.languageId,
    };
    return this.eventBody(memberId, "ONAPPINSTALL", data, options);
  }

  /** `ONAPPUNINSTALL` (auth has no tokens; `clean` = the "delete app data" checkbox). */
  uninstallEventBody(memberId: string, clean = true, options: EventBodyOptions = {}): string {
    const portal = this.portal(memberId);
    return this.eventBody(
      memberId,
      "ONAPPUNINSTALL",
      { LANGUAGE_ID: portal.languageId, CLEAN: clean ? 1 : 0 },
      options,
    );
  }

  /**
   * Body of the install-page POST. Recorded from real portals (fixture `install_page_post_raw.txt`:
   * CRest's documented `$_REQUEST`, b24phpsdk's install example) it carries `AUTH_ID`, `AUTH_EXPIRES`,
   * `REFRESH_ID`, `member_id`, `status`, `PLACEMENT` and no application token; `withEndpointAndToken`
   * adds `SERVER_ENDPOINT`, `APPLICATION_TOKEN` and `APPLICATION_SCOPE`, as the REST docs' connector
   * settings page shows (fixture `placement_setting_connector_post.txt`). Sources disagree, so both.
   */
  installPageBody(
    memberId: string,
    overrides: Record<string, string> = {},
    options: { withEndpointAndToken?: boolean } = {},
  ): string {
    const portal = this.portal(memberId);
    const fields: Record<string, string> = {
      AUTH_ID: portal.accessToken,
      AUTH_EXPIRES: String(Math.round(this.#ttlMs / 1000)),
      REFRESH_ID: portal.refreshToken,
      ...(options.withEndpointAndToken
        ? {
            SERVER_ENDPOINT: this.serverEndpointOf(portal.region),
            APPLICATION_TOKEN: portal.applicationToken,
            APPLICATION_SCOPE: portal.scope,
          }
        : {}),
      member_id: portal.memberId,
      status: portal.status,
      PLACEMENT: "DEFAULT",
    };
    return httpBuildQuery(applyOverrides(fields, overrides));
  }

  /**
   * `ONAPPUSERREADY` (docs `api-reference/common/events/on-app-user-ready`): `data` is a fresh
   * authorization of the app's system user (its `domain` is the OAuth server's), `auth` the installing
   * admin's with the application token. Sent to the install URL without an `event.bind`.
   */
  systemUserReadyEventBody(memberId: string, options: EventBodyOptions = {}): string {
    const portal = this.portal(memberId);
    const pair = this.#issueSystemUserTokens(portal);
    const data = {
      access_token: pair.accessToken,
      refresh_token: pair.refreshToken,
      expires_in: String(Math.round(this.#ttlMs / 1000)),
      scope: portal.scope,
      domain: new URL(this.oauthServers[portal.region].url).host,
      server_endpoint: this.serverEndpointOf(portal.region),
      client_endpoint: this.clientEndpoint,
      member_id: portal.memberId,
      user_id: String(portal.systemUserId),
      client_id: portal.clientId,
      status: portal.status,
      LANGUAGE_ID: portal.languageId,
    };
    return this.eventBody(memberId, "ONAPPUSERREADY", data, { eventHandlerId: 1, ...options });
  }

  /** Query string of the install-page POST: `DOMAIN`, `PROTOCOL` (0 = http, as the fake), `LANG`, `APP_SID`. */
  installPageQuery(memberId: string, overrides: Record<string, string> = {}): string {
    const portal = this.portal(memberId);
    const fields: Record<string, string> = {
      DOMAIN: portal.domain,
      PROTOCOL: this.url.startsWith("https:") ? "1" : "0",
      LANG: portal.languageId,
      APP_SID: hex(16),
    };
    return httpBuildQuery(applyOverrides(fields, overrides));
  }

  /**
   * Body of the messageservice handler call (CRM "Send SMS" through the app's sender). The message id is
   * remembered so `messageservice.message.status.update` accepts it.
   */
  messageserviceHandlerBody(
    memberId: string,
    input: SmsHandlerInput,
    options: EventBodyOptions = {},
  ): string {
    const portal = this.portal(memberId);
    const messageId = input.messageId ?? hex(16);
    portal.smsMessages.set(messageId, input.code);
    const payload: Params = {
      module_id: "crm",
      bindings: input.bindings ?? [{ OWNER_TYPE_ID: 1, OWNER_ID: 1 }],
      properties: { phone_number: input.messageTo, message_text: input.messageBody },
      type: "SMS",
      code: input.code,
      message_id: messageId,
      message_to: input.messageTo,
      message_body: input.messageBody,
      ts: options.ts ?? Math.floor(this.now() / 1000),
      auth: this.#authBlock(portal, "default", options),
    };
    return httpBuildQuery(payload);
  }

  /**
   * Body of a robot's call to its HANDLER when a CRM automation rule runs it: the fields of bitrix24/
   * b24phpsdk's IncomingRobotRequest (workflow_id, code, document_id[], document_type[], event_token,
   * properties[…], use_subscription, timeout_duration, ts, auth[…]).
   */
  robotHandlerBody(
    memberId: string,
    input: { code: string; properties: Record<string, string>; eventToken?: string },
    options: EventBodyOptions = {},
  ): string {
    const portal = this.portal(memberId);
    return httpBuildQuery({
      workflow_id: hex(12),
      code: input.code,
      document_id: ["crm", "CCrmDocumentDeal", "DEAL_17"],
      document_type: ["crm", "CCrmDocumentDeal", "DEAL"],
      event_token: input.eventToken ?? `${hex(8)}.${hex(4)}|A${hex(6)}|${hex(16)}`,
      properties: input.properties,
      use_subscription: "Y",
      timeout_duration: 0,
      ts: options.ts ?? Math.floor(this.now() / 1000),
      auth: this.#authBlock(portal, "default", options),
    });
  }

  /**
   * Delivers an event the way Bitrix24 does: a form-encoded POST to every handler bound with `event.bind`
   * for it. Resolves with each handler's answer (empty when nothing is bound or the app is not installed).
   */
  async deliverEvent(
    memberId: string,
    eventName: string,
    data: unknown,
    options: EventBodyOptions = {},
  ): Promise<Array<{ handler: string; status: number; body: string }>> {
    const portal = this.portal(memberId);
    const name = eventName.toUpperCase();
    const results: Array<{ handler: string; status: number; body: string }> = [];
    // Docs (app.info): while INSTALLED is false, Bitrix24 delivers no events.
    if (!portal.installed) return results;
    for (const binding of portal.events.filter((b) => b.event === name)) {
      const body = this.eventBody(memberId, name, data, { eventHandlerId: binding.id, ...options });
      const response = await fetch(binding.handler, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body,
      });
      results.push({ handler: binding.handler, status: response.status, body: await response.text() });
    }
    return results;
  }

  // ---------------------------------------------------------------- HTTP handling

  protected override async handle(req: RecordedRequest): Promise<FakeResponse> {
    if (req.path.startsWith("/rest/")) return this.#rest(req);
    return { status: 404, body: "Not Found" };
  }

  /** One regional OAuth server: refresh and `app.info`, for its own region's portals only. */
  #oauthServer(req: RecordedRequest, region: BitrixRegion): FakeResponse {
    if (req.path === "/oauth/token/" || req.path === "/oauth/token") return this.#oauthToken(req, region);
    if (/^\/rest\/app\.info(\.json)?\/?$/i.test(req.path)) return this.#oauthAppInfo(req, region);
    return { status: 404, body: "Not Found" };
  }

  /**
   * The OAuth server's `app.info` (b24pysdk `schemas/api.py` B24AppInfoResultData, parsed strictly there):
   * `{client_id, scope, expires, install: {installed, version, status, scope, domain, uri,
   * client_endpoint, member_id, member_type}, user_id}` — the portal is named only inside `install`, and
   * there is no licence (that is the portal's own app.info).
   */
  #oauthAppInfo(req: RecordedRequest, region: BitrixRegion): FakeResponse {
    const started = this.now();
    const params: Params = { ...parseQuery(req.queryString), ...requestBodyParams(req) };
    const token = authToken(req, params);
    if (!token) return errorResponse(new BitrixError(401, "NO_AUTH_FOUND", "Wrong authorization data"));
    const info = this.#accessTokens.get(token);
    const portal = info ? this.#portals.get(info.memberId) : undefined;
    if (!info || !portal || portal.region !== region) {
      return errorResponse(new BitrixError(401, "invalid_token", "The access token provided is invalid."));
    }
    if (info.revoked !== undefined || this.now() >= info.expiresAt) {
      return errorResponse(BitrixError.fromBody(401, EXPIRED_TOKEN_BODY));
    }
    return {
      status: 200,
      body: {
        result: {
          client_id: portal.clientId,
          scope: portal.scope,
          expires: String(Math.floor(info.expiresAt / 1000)),
          install: {
            installed: portal.installed,
            version: portal.appVersion,
            status: portal.status,
            scope: portal.scope,
            domain: portal.domain,
            uri: `${new URL(this.url).protocol}//${portal.domain}`,
            client_endpoint: this.clientEndpoint,
            member_id: portal.memberId,
            member_type: "PORTAL",
          },
          user_id: info.userId,
        },
        time: this.#time(started),
      },
    };
  }

  async #rest(req: RecordedRequest): Promise<FakeResponse> {
    const started = this.now();
    const methodPath = req.path.slice("/rest/".length);
    if (methodPath === "download.json") return this.#diskDownload(req);
    if (methodPath.includes("/")) {
      // `/rest/{user}/{code}/{method}` is an incoming webhook; the fake only knows OAuth apps.
      return errorResponse(new BitrixError(401, "INVALID_CREDENTIALS", "Invalid request credentials"));
    }
    const method = methodPath.replace(/\.(json|xml)$/i, "").toLowerCase();
    const params: Params = { ...parseQuery(req.queryString), ...requestBodyParams(req) };

    const token = authToken(req, params);
    if (!token) return errorResponse(new BitrixError(401, "NO_AUTH_FOUND", "Wrong authorization data"));
    const info = this.#accessTokens.get(token);
    if (!info) {
      return errorResponse(new BitrixError(401, "invalid_token", "The access token provided is invalid."));
    }
    if (info.revoked === "refreshed" && this.#revokedError === "invalid_token") {
      return errorResponse(new BitrixError(401, "invalid_token", "The access token provided is invalid."));
    }
    if (info.revoked !== undefined || this.now() >= info.expiresAt) {
      return errorResponse(BitrixError.fromBody(401, EXPIRED_TOKEN_BODY));
    }
    const portal = this.portal(info.memberId);
    if (!this.#admit(portal.memberId)) return errorResponse(BitrixError.fromBody(503, QUERY_LIMIT_BODY));

    try {
      const outcome = await this.#call({ portal, userId: info.userId, inBatch: false }, method, params);
      const body: Params = { result: outcome.result };
      if (outcome.next !== undefined) body.next = outcome.next;
      if (outcome.total !== undefined) body.total = outcome.total;
      body.time = this.#time(started);
      return { status: 200, body };
    } catch (error) {
      if (error instanceof BitrixError) return errorResponse(error);
      throw error;
    }
  }

  async #call(ctx: CallContext, method: string, params: Params): Promise<MethodResult> {
    this.#calls.push({ memberId: ctx.portal.memberId, method });
    const failure = this.#failures.find(
      (f) =>
        f.remaining > 0 &&
        f.method === method &&
        (f.memberId === undefined || f.memberId === ctx.portal.memberId) &&
        (f.when === undefined || f.when(params)),
    );
    if (failure) {
      failure.remaining -= 1;
      if (failure.remaining === 0) this.#failures.splice(this.#failures.indexOf(failure), 1);
      throw failure.error;
    }
    const impl = this.#methods[method];
    if (!impl) throw new BitrixError(404, "ERROR_METHOD_NOT_FOUND", "Method not found!");
    const scope = requiredScope(method);
    if (scope && !scope.some((s) => hasScope(ctx.portal.scope, s))) {
      throw new BitrixError(
        401,
        "insufficient_scope",
        "The request requires higher privileges than provided by the access token",
      );
    }
    return impl(ctx, params);
  }

  #admit(memberId: string): boolean {
    const bucket = this.#buckets.get(memberId);
    if (!bucket) return true;
    const now = this.now();
    bucket.level = Math.max(0, bucket.level - ((now - bucket.last) / 1000) * bucket.perSecond);
    bucket.last = now;
    if (bucket.level + 1 > bucket.burst) return false;
    bucket.level += 1;
    return true;
  }

  #oauthToken(req: RecordedRequest, region: BitrixRegion): FakeResponse {
    const params: Params = { ...parseQuery(req.queryString), ...requestBodyParams(req) };
    const grantType = str(params.grant_type);
    const clientId = str(params.client_id);
    const clientSecret = str(params.client_secret);
    const refreshToken = str(params.refresh_token);
    if (grantType !== "refresh_token") {
      return oauthError(400, "invalid_request", "grant_type must be refresh_token");
    }
    if (!clientId || !clientSecret || !refreshToken) {
      return oauthError(400, "invalid_request", "client_id, client_secret and refresh_token are required");
    }
    const apps = this.portals.filter((p) => p.clientId === clientId);
    if (apps.length === 0 || !apps.some((p) => p.clientSecret === clientSecret)) {
      return oauthError(400, "invalid_client", "Invalid client credentials");
    }
    const entry = this.#refreshTokens.get(refreshToken);
    const portal = entry ? this.#portals.get(entry.memberId) : undefined;
    if (
      !entry ||
      entry.used ||
      !portal ||
      portal.region !== region ||
      portal.clientId !== clientId ||
      portal.clientSecret !== clientSecret
    ) {
      return oauthError(400, "invalid_grant", "Invalid refresh token");
    }
    entry.used = true;
    const current = entry.userId === portal.systemUserId ? portal.systemUserAccessToken : portal.accessToken;
    if (this.#revokeOnRefresh && current) {
      const old = this.#accessTokens.get(current);
      if (old && old.revoked === undefined) old.revoked = "refreshed";
    }
    const userId = entry.userId;
    const issued = userId === portal.systemUserId ? this.#issueSystemUserTokens(portal) : undefined;
    if (!issued) this.#issueTokens(portal);
    portal.refreshCount += 1;
    return {
      status: 200,
      body: {
        access_token: issued?.accessToken ?? portal.accessToken,
        client_endpoint: this.clientEndpoint,
        // The OAuth server's own domain, not the portal's (docs: settings/oauth/index, refresh answer).
        domain: new URL(this.oauthServers[region].url).host,
        expires: Math.floor(portal.accessExpiresAt / 1000),
        expires_in: Math.round(this.#ttlMs / 1000),
        member_id: portal.memberId,
        refresh_token: issued?.refreshToken ?? portal.refreshToken,
        scope: portal.scope,
        server_endpoint: this.serverEndpointOf(region),
        status: portal.status,
        user_id: userId,
      },
    };
  }

  #issueTokens(portal: BitrixPortal, accessToken?: string, refreshToken?: string): void {
    portal.accessToken = accessToken ?? hex(16);
    portal.refreshToken = refreshToken ?? hex(16);
    portal.accessExpiresAt = this.now() + this.#ttlMs;
    this.#registerTokens(portal);
  }

  /** Makes the portal's current pair valid: its access token until `accessExpiresAt`, its refresh token once. */
  #registerTokens(portal: BitrixPortal): void {
    this.#accessTokens.set(portal.accessToken, {
      memberId: portal.memberId,
      userId: portal.userId,
      expiresAt: portal.accessExpiresAt,
    });
    this.#refreshTokens.set(portal.refreshToken, {
      memberId: portal.memberId,
      userId: portal.userId,
      used: false,
    });
  }

  /** A fresh token pair for the portal's app system user (what ONAPPUSERREADY's `data` carries). */
  #issueSystemUserTokens(portal: BitrixPortal): { accessToken: string; refreshToken: string } {
    const pair = { accessToken: hex(16), refreshToken: hex(16) };
    const expiresAt = this.now() + this.#ttlMs;
    portal.systemUserAccessToken = pair.accessToken;
    this.#accessTokens.set(pair.accessToken, {
      memberId: portal.memberId,
      userId: portal.systemUserId,
      expiresAt,
    });
    this.#refreshTokens.set(pair.refreshToken, {
      memberId: portal.memberId,
      userId: portal.systemUserId,
      used: false,
    });
    return pair;
  }

  /** The user an access token belongs to (the installing admin, or the app's system user). */
  tokenUser(accessToken: string): number | undefined {
    return this.#accessTokens.get(accessToken)?.userId;
  }

  #tokensOf(portal: BitrixPortal): BitrixTokens {
    return {
      memberId: portal.memberId,
      accessToken: portal.accessToken,
      refreshToken: portal.refreshToken,
      expiresIn: Math.max(0, Math.round((portal.accessExpiresAt - this.now()) / 1000)),
    };
  }

  #time(startedMs: number): Params {
    const start = startedMs / 1000;
    const finish = this.now() / 1000;
    return {
      start,
      finish,
      duration: finish - start,
      processing: finish - start,
      date_start: isoSeconds(startedMs),
      date_finish: isoSeconds(this.now()),
      operating_reset_at: Math.floor(start) + 600,
      operating: 0,
    };
  }

  // ---------------------------------------------------------------- event payloads

  #eventPayload(portal: BitrixPortal, event: string, data: unknown, options: EventBodyOptions): Params {
    const ts = options.ts ?? Math.floor(this.now() / 1000);
    const layout = eventLayout(event);
    const payload: Params = { event };
    if (layout === "default" || layout === "userReady") {
      payload.event_handler_id =
        options.eventHandlerId ?? portal.events.find((b) => b.event === event)?.id ?? 1;
    } else if (layout === "dialog") {
      payload.eventId = options.eventHandlerId ?? portal.events.find((b) => b.event === event)?.id ?? 1;
    } else if (options.eventHandlerId !== undefined) {
      payload.event_handler_id = options.eventHandlerId;
    }
    payload.data = data;
    payload.ts = ts;
    payload.auth = this.#authBlock(portal, layout, options);
    return payload;
  }

  #authBlock(portal: BitrixPortal, layout: EventLayout, options: EventBodyOptions): Params {
    let accessToken = portal.accessToken;
    let expiresAt = portal.accessExpiresAt;
    if (options.issueToken) {
      accessToken = hex(16);
      expiresAt = this.now() + this.#ttlMs;
      this.#accessTokens.set(accessToken, { memberId: portal.memberId, userId: portal.userId, expiresAt });
    }
    const values: Params = {
      access_token: accessToken,
      expires: Math.floor(expiresAt / 1000),
      expires_in: Math.round(this.#ttlMs / 1000),
      scope: portal.scope,
      domain: portal.domain,
      server_endpoint: this.serverEndpointOf(portal.region),
      status: portal.status,
      client_endpoint: this.clientEndpoint,
      member_id: portal.memberId,
      user_id: portal.userId,
      refresh_token: portal.refreshToken,
      application_token: portal.applicationToken,
    };
    const tokenKeys = new Set(["access_token", "expires", "expires_in", "refresh_token"]);
    const block: Params = {};
    for (const key of AUTH_LAYOUTS[layout]) {
      if (options.withoutTokens && tokenKeys.has(key)) continue;
      block[key] = values[key];
    }
    for (const [key, value] of Object.entries(options.auth ?? {})) {
      if (value === null) delete block[key];
      else block[key] = value;
    }
    return block;
  }

  // ---------------------------------------------------------------- REST methods

  #methodTable(): Record<string, Method> {
    return {
      // Each method's answer follows its b24restdocs page (api-reference/…) and the fixture named there.
      // docs api-reference/common/users/user-admin.
      "user.admin": ({ portal }) => ({ result: portal.admin }),

      "im.notify.system.add": ({ portal }, params) => {
        const userId = Number(param(params, "USER_ID"));
        const message = str(param(params, "MESSAGE"));
        if (!Number.isInteger(userId) || userId <= 0 || !message) {
          throw new BitrixError(400, "USER_ID_EMPTY", "Recipient identifier is not specified");
        }
        const tag = str(param(params, "TAG")) || undefined;
        if (tag) portal.notifications = portal.notifications.filter((n) => n.tag !== tag);
        portal.notifications.push({ userId, message, ...(tag ? { tag } : {}), at: this.now() });
        return { result: portal.notifications.length };
      },

      // docs api-reference/disk/file/disk-file-get: every field a string, DOWNLOAD_URL carries its own auth.
      "disk.file.get": ({ portal }, params) => {
        const id = str(param(params, "id"));
        if (!id) throw new BitrixError(400, "ERROR_ARGUMENT", "Invalid value of parameter {Parameter #0}");
        const file = portal.diskFiles.get(id);
        if (!file) throw new BitrixError(400, "ERROR_NOT_FOUND", `Could not find entity with id \`${id}\``);
        const at = isoSeconds(this.now());
        return {
          result: {
            ID: id,
            NAME: file.name,
            CODE: null,
            STORAGE_ID: "1",
            TYPE: "file",
            PARENT_ID: "1",
            DELETED_TYPE: "0",
            GLOBAL_CONTENT_VERSION: "1",
            FILE_ID: id,
            SIZE: String(file.bytes.length),
            CREATE_TIME: at,
            UPDATE_TIME: at,
            DELETE_TIME: null,
            CREATED_BY: String(portal.userId),
            UPDATED_BY: String(portal.userId),
            DELETED_BY: "0",
            DOWNLOAD_URL: `${this.url}/rest/download.json?auth=${hex(16)}&token=${encodeURIComponent(file.downloadToken)}`,
            DETAIL_URL: `${this.url}/company/personal/user/${portal.userId}/disk/file/${encodeURIComponent(file.name)}`,
          },
        };
      },

      // The portal's own app.info: docs api-reference/common/system/app-info.
      "app.info": ({ portal }) => ({
        result: {
          ID: portal.appId,
          CODE: portal.appCode,
          VERSION: portal.appVersion,
          STATUS: portal.status,
          INSTALLED: portal.installed,
          PAYMENT_EXPIRED: "N",
          DAYS: null,
          LANGUAGE_ID: portal.languageId,
          LICENSE: `${portal.languageId}_${licenseType(portal.licenseFamily)}`,
          LICENSE_TYPE: licenseType(portal.licenseFamily),
          LICENSE_FAMILY: portal.licenseFamily,
        },
      }),

      // docs api-reference/events/event-bind, event-get, event-unbind (fixtures event_bind_*).
      "event.bind": ({ portal }, params) => {
        const event = str(param(params, "event")).toUpperCase();
        const handler = str(param(params, "handler"));
        if (!event.startsWith("ON")) throw new BitrixError(400, "ERROR_EVENT_NOT_FOUND", "Event not found");
        if (!handler) throw new BitrixError(400, "ERROR_ARGUMENT", "Argument 'handler' is null or empty");
        const authType = str(param(params, "auth_type")) || "0";
        const offline = str(param(params, "event_type")).toLowerCase() === "offline" ? 1 : 0;
        if (
          portal.events.some((b) => b.event === event && b.handler === handler && b.authType === authType)
        ) {
          throw new BitrixError(400, "ERROR_CORE", "Handler already binded");
        }
        this.#counter += 1;
        portal.events.push({ id: this.#counter, event, handler, authType, offline });
        return { result: true };
      },

      "event.get": ({ portal }) => ({
        result: portal.events.map((b) => ({
          event: b.event,
          handler: b.handler,
          auth_type: b.authType,
          offline: b.offline,
        })),
      }),

      "event.unbind": ({ portal }, params) => {
        const event = str(param(params, "event")).toUpperCase();
        const handler = str(param(params, "handler"));
        const authType = param(params, "auth_type");
        const keep = portal.events.filter(
          (b) =>
            !(
              (!event || b.event === event) &&
              (!handler || b.handler === handler) &&
              (authType === undefined || b.authType === (str(authType) || "0"))
            ),
        );
        const count = portal.events.length - keep.length;
        portal.events.splice(0, portal.events.length, ...keep);
        return { result: { count } };
      },

      // docs api-reference/imopenlines/imconnector/* (fixtures imconnector_*).
      "imconnector.register": ({ portal }, params) => {
        const p = upperKeys(params);
        const id = str(p.ID).toLowerCase();
        const icon = isRecord(p.ICON) ? upperKeys(p.ICON) : {};
        const fail = (error: string, description: string) => ({
          result: { result: false, error, error_description: description },
        });
        if (!id) return fail("CONNECTOR_ID_REQUIRED", "Connector ID is not specified");
        if (id.includes("."))
          return fail("APPLICATION_REGISTRATION_ERROR_POINT", "Connector ID must not contain a dot");
        if (!p.NAME) return fail("NAME_REQUIRED", "Connector name is not specified");
        if (!str(icon.DATA_IMAGE)) return fail("ICON_REQUIRED", "Connector icon is not specified");
        if (!str(p.PLACEMENT_HANDLER))
          return fail("NO_PLACEMENT_HANDLER", "Placement handler is not specified");
        const stored: Params = { ...p, ID: id };
        delete stored.AUTH;
        portal.connectors.set(id, stored);
        return { result: { result: true } };
      },

      "imconnector.unregister": ({ portal }, params) => {
        const id = str(param(params, "ID")).toLowerCase();
        portal.connectors.delete(id);
        for (const [key, status] of portal.lineStatus)
          if (status.connector === id) portal.lineStatus.delete(key);
        return { result: { result: true } };
      },

      "imconnector.list": ({ portal }) => {
        const result: Record<string, string> = { ...BUILTIN_CONNECTORS };
        for (const [id, connector] of portal.connectors) result[id] = displayName(connector.NAME, id);
        return { result };
      },

      "imconnector.activate": ({ portal }, params) => {
        const { connector, line } = this.#connectorLine(portal, params);
        if (!portal.lines.has(line)) throw BitrixError.fromBody(400, NOT_ACTIVE_LINE_BODY);
        const key = `${connector}|${line}`;
        if (truthy(param(params, "ACTIVE"))) {
          const previous = portal.lineStatus.get(key);
          portal.lineStatus.set(key, {
            connector,
            line,
            active: true,
            connection: this.#greenRequiresDataSet ? (previous?.connection ?? false) : true,
            register: true,
            error: false,
            data: previous?.data ?? {},
          });
        } else {
          portal.lineStatus.delete(key);
        }
        return { result: true };
      },

      "imconnector.status": ({ portal }, params) => {
        const connector = str(param(params, "CONNECTOR")).toLowerCase();
        const line = str(param(params, "LINE")) || "0";
        const status = portal.lineStatus.get(`${connector}|${line}`);
        return {
          result: {
            LINE: Number(line) || 0,
            CONNECTOR: connector,
            ERROR: status?.error ?? false,
            CONFIGURED: status ? status.active && status.register : false,
            STATUS: status ? isGreen(status) : false,
          },
        };
      },

      "imconnector.connector.data.set": ({ portal }, params) => {
        const { connector, line } = this.#connectorLine(portal, params);
        const data = param(params, "DATA");
        if (!isRecord(data)) throw new BitrixError(400, "ERROR_ARGUMENT", "Argument 'DATA' is null or empty");
        const key = `${connector}|${line}`;
        const status = portal.lineStatus.get(key) ?? {
          connector,
          line,
          active: false,
          connection: false,
          register: false,
          error: false,
          data: {},
        };
        status.data = { ...status.data, ...upperKeys(data) };
        status.connection = true;
        portal.lineStatus.set(key, status);
        return { result: true };
      },

      "imconnector.send.messages": ({ portal }, params) => {
        const { connector, line, items } = this.#messagesCall(portal, params, true);
        const rejections = this.#rejections.get(portal.memberId) ?? [];
        const results = items.map((item) => {
          const result = this.#sendResult(portal, item, rejections);
          const session = result.session as { CHAT_ID?: string } | undefined;
          if (session?.CHAT_ID) {
            this.#openLineChats.set(session.CHAT_ID, {
              memberId: portal.memberId,
              connector,
              line: String(line),
              chatId: str(item.chat.id),
              userId: str(item.user.id),
            });
          }
          portal.messages.push({ connector, line, ...item, result, at: this.now() });
          return result;
        });
        return { result: { SUCCESS: true, DATA: { RESULT: results } } };
      },

      // imopenlines-dialog-get.md: entity_type LINES, entity_id `<connector>|<LINE_ID>|<CHAT>|<USER>`,
      // dialog_id `chat<ID>`; a chat the user cannot reach is 400 ACCESS_ERROR.
      "imopenlines.dialog.get": ({ portal }, params) => {
        const dialogId = str(param(params, "DIALOG_ID"));
        const chatId = str(param(params, "CHAT_ID")) || dialogId.replace(/^chat/, "");
        const chat = this.#openLineChats.get(chatId);
        if (!chat || chat.memberId !== portal.memberId) {
          throw new BitrixError(400, "ACCESS_ERROR", "You do not have access to the specified dialog");
        }
        return {
          result: {
            id: Number(chatId),
            dialog_id: `chat${chatId}`,
            type: "lines",
            entity_type: "LINES",
            entity_id: `${chat.connector}|${chat.line}|${chat.chatId}|${chat.userId}`,
          },
        };
      },

      // im-message-add.md: result is the new message id. A message an operator writes into an open-line
      // chat goes out through the connector: Bitrix24 posts ONIMCONNECTORMESSAGEADD (the fixture's
      // data shape) to the handlers bound for it.
      "im.message.add": ({ portal }, params) => {
        const dialogId = str(param(params, "DIALOG_ID"));
        const text = str(param(params, "MESSAGE"));
        if (!dialogId) throw new BitrixError(400, "ERROR_ARGUMENT", "Argument 'DIALOG_ID' is null or empty");
        if (!text) throw new BitrixError(400, "ERROR_ARGUMENT", "Argument 'MESSAGE' is null or empty");
        this.#counter += 1;
        const id = 34_000 + this.#counter;
        // SYSTEM "Y" shows it as a system message (im-message-add.md); system messages reach a connector
        // only when it was registered with NEED_SYSTEM_MESSAGES true, the default (imconnector-register.md
        // of bitrix24/b24restdocs; the flag also in bitrix24/b24pysdk's imconnector.register).
        const system = str(param(params, "SYSTEM")).toUpperCase() === "Y";
        portal.chatMessages.push({ dialogId, text, id, system });
        const chatId = dialogId.replace(/^chat/, "");
        const chat = this.#openLineChats.get(chatId);
        const wantsSystem = (connector: string) =>
          !["false", "n", "0", ""].includes(
            String(portal.connectors.get(connector)?.NEED_SYSTEM_MESSAGES ?? true).toLowerCase(),
          );
        if (chat && chat.memberId === portal.memberId && (!system || wantsSystem(chat.connector))) {
          const data = {
            CONNECTOR: chat.connector,
            LINE: chat.line,
            MESSAGES: [
              {
                im: { chat_id: Number(chatId), message_id: id },
                message: { user_id: portal.userId, text },
                chat: { id: chat.chatId },
              },
            ],
          };
          // Bitrix24 sends the event after answering; a failure there is the handler's, not the caller's.
          setTimeout(() => {
            this.deliverEvent(portal.memberId, "ONIMCONNECTORMESSAGEADD", data).catch((error: unknown) =>
              this.errors.push(error),
            );
          }, 0);
        }
        return { result: id };
      },

      // bizproc-robot-add.md: a second add of the same CODE is ERROR_ACTIVITY_ALREADY_INSTALLED;
      // bizproc-robot-update.md: CODE plus FIELDS; bizproc-robot-list.md: the codes.
      "bizproc.robot.add": ({ portal }, params) => {
        const code = str(param(params, "CODE"));
        if (!code) throw new BitrixError(400, "ERROR_ACTIVITY_VALIDATION_FAILURE", "Empty activity code!");
        if (!str(param(params, "HANDLER")))
          throw new BitrixError(400, "ERROR_WRONG_HANDLER_URL", "Wrong handler URL");
        if (portal.robots.has(code)) {
          throw new BitrixError(
            400,
            "ERROR_ACTIVITY_ALREADY_INSTALLED",
            "Activity or Robot already installed!",
          );
        }
        const { auth: _auth, ...fields } = params;
        portal.robots.set(code, fields);
        return { result: true };
      },
      "bizproc.robot.update": ({ portal }, params) => {
        const code = str(param(params, "CODE"));
        const fields = param(params, "FIELDS");
        const robot = portal.robots.get(code);
        if (!robot) throw new BitrixError(400, "ERROR_ACTIVITY_NOT_FOUND", "Activity or Robot not found!");
        if (!isRecord(fields)) throw new BitrixError(400, "ERROR_ACTIVITY_VALIDATION_FAILURE", "Empty data!");
        portal.robots.set(code, { ...robot, ...fields });
        return { result: true };
      },
      "bizproc.robot.list": ({ portal }) => ({ result: [...portal.robots.keys()] }),
      // bizproc-event-send.md: EVENT_TOKEN, RETURN_VALUES, LOG_MESSAGE; result true.
      "bizproc.event.send": ({ portal }, params) => {
        const eventToken = str(param(params, "EVENT_TOKEN"));
        if (!eventToken) throw new BitrixError(400, "ACCESS_DENIED", "Access denied!");
        const returnValues = param(params, "RETURN_VALUES");
        portal.robotResults.push({
          eventToken,
          returnValues: isRecord(returnValues) ? returnValues : {},
          logMessage: str(param(params, "LOG_MESSAGE")),
        });
        return { result: true };
      },

      "placement.bind": ({ portal }, params) => {
        const placement = str(param(params, "PLACEMENT")).toUpperCase();
        const handler = str(param(params, "HANDLER"));
        if (!placement) throw new BitrixError(400, "ERROR_ARGUMENT", "Argument 'PLACEMENT' is null or empty");
        if (!handler) throw new BitrixError(400, "ERROR_ARGUMENT", "Argument 'HANDLER' is null or empty");
        const options = param(params, "OPTIONS");
        portal.placements.push({
          placement,
          handler,
          title: str(param(params, "TITLE")),
          options: isRecord(options) ? options : {},
        });
        return { result: true };
      },

      "placement.get": ({ portal }) => ({
        result: portal.placements.map((p) => ({
          placement: p.placement,
          userId: 0,
          handler: p.handler,
          options: p.options,
          title: p.title,
          description: "",
        })),
      }),

      "imconnector.update.messages": ({ portal }, params) => {
        const { connector, line, items } = this.#messagesCall(portal, params, true);
        const results = items.map((item) => {
          const result: Params = {
            user: this.#internalUser(portal, item.user),
            message: { id: item.message.id, date: {}, text: item.message.text },
            chat: chatResult(item.chat),
            SUCCESS: true,
          };
          portal.updatedMessages.push({ connector, line, ...item, result, at: this.now() });
          return result;
        });
        return { result: { SUCCESS: true, DATA: { RESULT: results } } };
      },

      "imconnector.delete.messages": ({ portal }, params) => {
        const { connector, line, items } = this.#messagesCall(portal, params, true);
        const results = items.map((item) => {
          const result: Params = {
            user: this.#internalUser(portal, item.user),
            message: { id: item.message.id },
            chat: { id: item.chat.id },
            SUCCESS: true,
          };
          portal.deletedMessages.push({ connector, line, ...item, result, at: this.now() });
          return result;
        });
        return { result: { SUCCESS: true, DATA: { RESULT: results } } };
      },

      "imconnector.send.status.delivery": ({ portal }, params) => {
        const { connector, line, raw } = this.#messagesCall(portal, params, false);
        portal.deliveryStatuses.push({ connector, line, items: raw, at: this.now() });
        return { result: { SUCCESS: true, DATA: [] } };
      },

      "imconnector.send.status.reading": ({ portal }, params) => {
        const { connector, line, raw } = this.#messagesCall(portal, params, false);
        portal.readingStatuses.push({ connector, line, items: raw, at: this.now() });
        return { result: { SUCCESS: true, DATA: [] } };
      },

      // https://apidocs.bitrix24.com/api-reference/imopenlines/openlines/sessions/imopenlines-session-history-get.html
      // (bitrix24/b24restdocs, same path .md): CHAT_ID + SESSION_ID give the session's messages keyed by
      // id; a message that came through a connector carries the connector's own id in
      // params.connectorMid. Errors per the docs' table: CHAT_ID (bad chat id), ACCESS_DENIED.
      "imopenlines.session.history.get": ({ portal }, params) => {
        const chatId = str(params.CHAT_ID);
        const sessionId = str(params.SESSION_ID);
        if (!chatId || !/^\d+$/.test(chatId)) throw new BitrixError(400, "CHAT_ID", "Chat ID is incorrect");
        const inSession = portal.messages.filter((m) => {
          const session = m.result.session as { ID?: string; CHAT_ID?: string } | undefined;
          return (
            m.result.SUCCESS === true &&
            session?.CHAT_ID === chatId &&
            (!sessionId || session.ID === sessionId)
          );
        });
        if (!sessionId && inSession.length === 0)
          throw new BitrixError(
            400,
            "ACCESS_DENIED",
            "You cannot open this conversation because you do not have sufficient rights.",
          );
        const message: Params = {};
        inSession.forEach((m) => {
          const id = String(20_000 + portal.messages.indexOf(m));
          message[id] = {
            id,
            chatid: chatId,
            senderid: String(m.result.user),
            recipientid: `chat${chatId}`,
            date: new Date(m.at).toISOString().replace(/\.\d{3}Z$/, "+00:00"),
            text: str(m.message.text),
            textlegacy: str(m.message.text),
            params: { connectorMid: [str(m.message.id)] },
          };
        });
        return {
          result: {
            chatId: Number(chatId),
            sessionId: Number(sessionId || 0),
            userId: `chat${chatId}`,
            message,
            usersMessage: { [`chat${chatId}`]: Object.keys(message).reverse() },
          },
        };
      },

      // docs api-reference/imopenlines/openlines/imopenlines-config-* (fixture imopenlines_config_add_request).
      "imopenlines.config.add": ({ portal }, params) => {
        const p = param(params, "PARAMS");
        return { result: this.#createLine(portal, isRecord(p) ? p : {}) };
      },

      "imopenlines.config.get": ({ portal }, params) => {
        const id = configId(params);
        return { result: portal.lines.get(id) ?? false };
      },

      "imopenlines.config.list.get": ({ portal }, params) => {
        const p = param(params, "PARAMS");
        const query = isRecord(p) ? p : {};
        let list = [...portal.lines.values()];
        const filter = isRecord(query.filter) ? query.filter : {};
        for (const [rawKey, expected] of Object.entries(filter)) {
          const op = /^[=!%]/.exec(rawKey)?.[0] ?? "=";
          const key = rawKey.replace(/^[=!%]+/, "").toUpperCase();
          list = list.filter((line) => {
            const actual = str(line[key]);
            if (op === "!") return actual !== str(expected);
            if (op === "%") return actual.toLowerCase().includes(str(expected).toLowerCase());
            return actual === str(expected);
          });
        }
        const order = isRecord(query.order) ? query.order : { ID: "ASC" };
        const [orderKey, direction] = Object.entries(order)[0] ?? ["ID", "ASC"];
        const sign = str(direction).toUpperCase() === "DESC" ? -1 : 1;
        const sortKey = orderKey.toUpperCase();
        list.sort((a, b) => sign * compareValues(a[sortKey], b[sortKey]));
        const select = Array.isArray(query.select)
          ? query.select.map((s) => str(s).toUpperCase())
          : undefined;
        const start = Number(str(param(params, "start")) || "0") || 0;
        const page = list.slice(start, start + 50).map((line) => (select ? pick(line, select) : line));
        const outcome: MethodResult = { result: page, total: list.length };
        if (start + 50 < list.length) outcome.next = start + 50;
        return outcome;
      },

      "imopenlines.config.update": ({ portal }, params) => {
        const id = configId(params);
        const line = portal.lines.get(id);
        if (!line) return { result: false };
        const p = param(params, "PARAMS");
        Object.assign(line, stringifyConfig(isRecord(p) ? p : {}), { ID: id });
        return { result: true };
      },

      "imopenlines.config.delete": ({ portal }, params) => {
        const id = configId(params);
        if (!portal.lines.delete(id)) return { result: false };
        for (const [key, status] of portal.lineStatus) if (status.line === id) portal.lineStatus.delete(key);
        return { result: true };
      },

      // docs api-reference/messageservice/* (fixtures messageservice_*).
      "messageservice.sender.add": ({ portal }, params) => {
        const p = upperKeys(params);
        const code = str(p.CODE);
        const invalid = (description: string) =>
          new BitrixError(400, "ERROR_SENDER_VALIDATION_FAILURE", description);
        if (!code) throw invalid("Empty sender CODE!");
        if (!/^[a-z0-9.\-_]+$/i.test(code)) throw invalid("Invalid sender CODE!");
        if (!str(p.TYPE)) throw invalid("Empty sender message TYPE!");
        if (str(p.TYPE) !== "SMS") throw invalid("Unknown sender message TYPE!");
        checkHandlerUrl(str(p.HANDLER));
        if (!p.NAME) throw invalid("Empty sender NAME!");
        if (portal.senders.has(code)) {
          throw new BitrixError(400, "ERROR_SENDER_ALREADY_INSTALLED", "Sender already installed!");
        }
        const sender: SmsSender = { CODE: code, TYPE: "SMS", HANDLER: str(p.HANDLER), NAME: p.NAME };
        if (p.DESCRIPTION !== undefined) sender.DESCRIPTION = p.DESCRIPTION;
        portal.senders.set(code, sender);
        return { result: true };
      },

      "messageservice.sender.update": ({ portal }, params) => {
        const p = upperKeys(params);
        const sender = portal.senders.get(str(p.CODE));
        if (!sender) throw new BitrixError(400, "ERROR_SENDER_NOT_FOUND", "Sender not found!");
        if (p.HANDLER !== undefined) {
          checkHandlerUrl(str(p.HANDLER));
          sender.HANDLER = str(p.HANDLER);
        }
        if (p.NAME !== undefined) sender.NAME = p.NAME;
        if (p.DESCRIPTION !== undefined) sender.DESCRIPTION = p.DESCRIPTION;
        return { result: true };
      },

      "messageservice.sender.delete": ({ portal }, params) => {
        const code = str(param(params, "CODE"));
        if (!portal.senders.delete(code))
          throw new BitrixError(400, "ERROR_SENDER_NOT_FOUND", "Sender not found!");
        return { result: true };
      },

      "messageservice.sender.list": ({ portal }) => ({ result: [...portal.senders.keys()] }),

      "messageservice.message.status.update": ({ portal }, params) => {
        const p = upperKeys(params);
        const code = str(p.CODE);
        const messageId = str(p.MESSAGE_ID);
        const status = str(p.STATUS);
        if (!SMS_STATUSES.includes(status)) throw BitrixError.fromBody(400, STATUS_INCORRECT_BODY);
        if (!portal.senders.has(code))
          throw new BitrixError(400, "ERROR_SENDER_NOT_FOUND", "Sender not found!");
        if (portal.smsMessages.get(messageId) !== code) {
          throw new BitrixError(400, "ERROR_MESSAGE_NOT_FOUND", "Message not found!");
        }
        portal.smsStatuses.push({ code, messageId, status, at: this.now() });
        return { result: true };
      },

      batch: (ctx, params) => this.#batch(ctx, params),
    };
  }

  async #batch(ctx: CallContext, params: Params): Promise<MethodResult> {
    if (ctx.inBatch)
      throw new BitrixError(405, "ERROR_BATCH_METHOD_NOT_ALLOWED", "Method is not allowed for batch usage");
    const cmd = param(params, "cmd");
    const entries: Array<[string, unknown]> = Array.isArray(cmd)
      ? cmd.map((value, index) => [String(index), value])
      : isRecord(cmd)
        ? Object.entries(cmd)
        : [];
    if (entries.length > 50)
      throw new BitrixError(400, "ERROR_BATCH_LENGTH_EXCEEDED", "Max batch length exceeded");
    const halt = truthy(param(params, "halt"));
    const results: Params = {};
    const errors: Params = {};
    const totals: Params = {};
    const nexts: Params = {};
    const times: Params = {};
    for (const [key, command] of entries) {
      const started = this.now();
      const text = resolveReferences(str(command), results);
      const q = text.indexOf("?");
      const method = (q === -1 ? text : text.slice(0, q)).trim().toLowerCase();
      const subParams = q === -1 ? {} : parseQuery(text.slice(q + 1));
      try {
        if (method === "batch") {
          throw new BitrixError(
            405,
            "ERROR_BATCH_METHOD_NOT_ALLOWED",
            "Method is not allowed for batch usage",
          );
        }
        const outcome = await this.#call({ ...ctx, inBatch: true }, method, subParams);
        results[key] = outcome.result;
        if (outcome.total !== undefined) totals[key] = outcome.total;
        if (outcome.next !== undefined) nexts[key] = outcome.next;
        times[key] = this.#time(started);
      } catch (error) {
        if (!(error instanceof BitrixError)) throw error;
        errors[key] = error.body;
        if (halt) break;
      }
    }
    return {
      result: {
        result: phpArray(results),
        result_error: phpArray(errors),
        result_total: phpArray(totals),
        result_next: phpArray(nexts),
        result_time: phpArray(times),
      },
    };
  }

  #connectorLine(portal: BitrixPortal, params: Params): { connector: string; line: string } {
    const connector = str(param(params, "CONNECTOR")).toLowerCase();
    const line = str(param(params, "LINE"));
    if (!connector || !(portal.connectors.has(connector) || connector in BUILTIN_CONNECTORS)) {
      throw new BitrixError(400, "IMCONNECTOR_NO_CORRECT_PROVIDER", "The connector is not registered");
    }
    if (!line) throw new BitrixError(400, "ERROR_ARGUMENT", "Argument 'LINE' is null or empty");
    return { connector, line };
  }

  #messagesCall(
    portal: BitrixPortal,
    params: Params,
    requireGreen: boolean,
  ): {
    connector: string;
    line: string;
    items: Array<{ user: Params; message: Params; chat: Params }>;
    raw: Params[];
  } {
    const connector = str(param(params, "CONNECTOR")).toLowerCase();
    const line = str(param(params, "LINE"));
    const messages = param(params, "MESSAGES");
    const list = Array.isArray(messages) ? messages : isRecord(messages) ? Object.values(messages) : [];
    if (list.length === 0) throw BitrixError.fromBody(400, MESSAGES_EMPTY_BODY);
    if (requireGreen) {
      const status = portal.lineStatus.get(`${connector}|${line}`);
      if (!status || !isGreen(status)) throw BitrixError.fromBody(400, NOT_ACTIVE_LINE_BODY);
    }
    // The server lower-cases every key inside MESSAGES.
    const raw = list.map((m) => lowerKeysDeep(m)).filter(isRecord);
    const items = raw.map((m) => ({
      user: isRecord(m.user) ? m.user : {},
      message: isRecord(m.message) ? m.message : {},
      chat: isRecord(m.chat) ? m.chat : {},
    }));
    return { connector, line, items, raw };
  }

  #sendResult(
    portal: BitrixPortal,
    item: { user: Params; message: Params; chat: Params },
    rejections: MessageRejection[],
  ): Params {
    const missing: string[] = [];
    if (!str(item.user.id)) missing.push("user.id");
    if (!str(item.chat.id)) missing.push("chat.id");
    if (!str(item.message.id)) missing.push("message.id");
    const message: Params = { id: item.message.id, date: {} };
    if (item.message.text !== undefined) message.text = item.message.text;
    message.files = [];
    const result: Params = {
      user: this.#internalUser(portal, item.user),
      message,
      chat: chatResult(item.chat),
    };
    const extra: Params = {};
    if (item.user.skip_phone_validate !== undefined)
      extra.skip_phone_validate = item.user.skip_phone_validate;
    if (item.message.disable_crm !== undefined) extra.disable_tracker = item.message.disable_crm;
    if (Object.keys(extra).length > 0) result.extra = extra;
    const rejection = rejections.find((r) => r.match(item));
    if (missing.length > 0 || rejection) {
      result.SUCCESS = false;
      result.ERRORS =
        missing.length > 0 ? missing.map((f) => `Required field ${f} is empty`) : rejection?.errors;
      return result;
    }
    result.SUCCESS = true;
    // Bitrix keys a session by connector|line|chat.id|user.id; per portal here is close enough for tests.
    const sessionKey = `${portal.memberId}|${str(item.chat.id)}|${str(item.user.id)}`;
    let session = this.#sessions.get(sessionKey);
    if (!session) {
      this.#counter += 1;
      session = { ID: String(300 + this.#counter), CHAT_ID: String(1700 + this.#counter) };
      this.#sessions.set(sessionKey, session);
    }
    result.session = { ...session };
    return result;
  }

  #internalUser(portal: BitrixPortal, user: Params): string {
    const external = `${portal.memberId}|${str(user.id)}`;
    let id = this.#internalUsers.get(external);
    if (!id) {
      id = String(585 + this.#internalUsers.size);
      this.#internalUsers.set(external, id);
    }
    return id;
  }

  #createLine(portal: BitrixPortal, params: Params): number {
    this.#counter += 1;
    const id = this.#counter;
    const config: Params = {
      ID: String(id),
      ACTIVE: "Y",
      LINE_NAME: `Open Channel ${id}`,
      ...stringifyConfig(params),
    };
    config.ID = String(id);
    portal.lines.set(String(id), config);
    return id;
  }
}

/** Starts the Bitrix24 fake (portal REST + OAuth server on one origin). */
export async function startBitrixFake(options: BitrixFakeOptions = {}): Promise<BitrixFake> {
  return new BitrixFake(options).listen();
}

// ---------------------------------------------------------------- wire helpers

type EventLayout = "default" | "install" | "uninstall" | "dialog" | "userReady";

/** `auth[...]` key order per event family, as in the documented payloads (`event_*_raw.txt`). */
const AUTH_LAYOUTS: Record<EventLayout, string[]> = {
  // The PHP SDK's captured body and the imconnector events.
  default: [
    "access_token",
    "expires",
    "expires_in",
    "scope",
    "domain",
    "server_endpoint",
    "status",
    "client_endpoint",
    "member_id",
    "user_id",
    "application_token",
  ],
  install: [
    "domain",
    "scope",
    "access_token",
    "refresh_token",
    "expires_in",
    "server_endpoint",
    "status",
    "client_endpoint",
    "member_id",
    "application_token",
  ],
  uninstall: ["domain", "server_endpoint", "client_endpoint", "member_id", "application_token"],
  // docs api-reference/common/events/on-app-user-ready (the installing admin's authorization).
  userReady: [
    "access_token",
    "refresh_token",
    "expires_in",
    "scope",
    "domain",
    "server_endpoint",
    "client_endpoint",
    "member_id",
    "user_id",
    "status",
    "application_token",
  ],
  dialog: [
    "access_token",
    "expires_in",
    "scope",
    "domain",
    "server_endpoint",
    "status",
    "client_endpoint",
    "member_id",
    "refresh_token",
    "application_token",
  ],
};

function eventLayout(event: string): EventLayout {
  if (event === "ONAPPINSTALL" || event === "ONAPPUPDATE") return "install";
  if (event === "ONAPPUNINSTALL") return "uninstall";
  if (event === "ONAPPUSERREADY") return "userReady";
  if (event === "ONIMCONNECTORDIALOGSTART" || event === "ONIMCONNECTORDIALOGFINISH") return "dialog";
  return "default";
}

/**
 * PHP `http_build_query`: bracketed keys, `urlencode` escaping (space → `+`, only `-_.` and alphanumerics
 * left bare), `true`/`false`/`null` → `1`/`0`/empty, empty arrays omitted.
 */
export function httpBuildQuery(value: Params): string {
  const parts: string[] = [];
  const walk = (key: string, item: unknown): void => {
    if (item === undefined) return;
    if (Array.isArray(item)) {
      for (const [index, element] of item.entries()) walk(`${key}[${index}]`, element);
      return;
    }
    if (item !== null && typeof item === "object") {
      for (const [k, v] of Object.entries(item)) walk(`${key}[${k}]`, v);
      return;
    }
    parts.push(`${phpUrlEncode(key)}=${phpUrlEncode(phpScalar(item))}`);
  };
  for (const [key, item] of Object.entries(value)) walk(key, item);
  return parts.join("&");
}

function phpScalar(value: unknown): string {
  if (value === true) return "1";
  if (value === false) return "0";
  if (value === null) return "";
  return String(value);
}

function phpUrlEncode(text: string): string {
  return encodeURIComponent(text)
    .replace(/[!'()*~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, "+");
}

function parseQuery(text: string): Params {
  if (!text) return {};
  return qs.parse(text, { depth: 20, arrayLimit: 1000, parameterLimit: 100_000 }) as Params;
}

function requestBodyParams(req: RecordedRequest): Params {
  if (isRecord(req.json)) return req.json;
  if (req.form) return req.form;
  return {};
}

function authToken(req: RecordedRequest, params: Params): string | undefined {
  const fromParams = params.auth ?? params.access_token;
  if (typeof fromParams === "string" && fromParams !== "") return fromParams;
  const header = req.headers.authorization;
  const match = typeof header === "string" ? /^Bearer\s+(.+)$/i.exec(header.trim()) : null;
  return match?.[1];
}

function errorResponse(error: BitrixError): FakeResponse {
  return { status: error.status, body: error.body };
}

function oauthError(status: number, error: string, description: string): FakeResponse {
  return { status, body: { error, error_description: description } };
}

/** Scopes that grant a method (any one suffices); `undefined` = basic methods every app may call. */
function requiredScope(method: string): string[] | undefined {
  if (method.startsWith("imconnector.")) return ["imopenlines", "imconnector"];
  if (method.startsWith("imopenlines.")) return ["imopenlines"];
  if (method.startsWith("messageservice.")) return ["messageservice"];
  if (method.startsWith("im.")) return ["im"];
  if (method.startsWith("disk.")) return ["disk"];
  return undefined;
}

function hasScope(granted: string, scope: string): boolean {
  return granted
    .split(",")
    .map((s) => s.trim())
    .includes(scope);
}

function checkHandlerUrl(handler: string): void {
  if (!handler) throw new BitrixError(400, "ERROR_WRONG_HANDLER_URL", "Handler URL is empty");
  let url: URL;
  try {
    url = new URL(handler);
  } catch {
    throw new BitrixError(400, "ERROR_WRONG_HANDLER_URL", "Wrong handler URL");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new BitrixError(400, "ERROR_UNSUPPORTED_PROTOCOL", "Unsupported handler protocol");
  }
  if (!url.hostname.includes(".")) throw new BitrixError(400, "ERROR_WRONG_HANDLER_URL", "Wrong handler URL");
}

/** `$result[key][field]…` references to earlier batch results, substituted into the command. */
function resolveReferences(command: string, results: Params): string {
  const unescaped = command
    .replace(/%24result/gi, "$result")
    .replace(/%5B/gi, "[")
    .replace(/%5D/gi, "]");
  return unescaped.replace(/\$result\[([^\]]+)\]((?:\[[^\]]*\])*)/g, (_, key: string, path: string) => {
    let value: unknown = results[key];
    for (const segment of path.match(/\[([^\]]*)\]/g) ?? []) {
      const name = segment.slice(1, -1);
      value = isRecord(value) ? value[name] : Array.isArray(value) ? value[Number(name)] : undefined;
    }
    return value === undefined || value === null || typeof value === "object"
      ? ""
      : encodeURIComponent(String(value));
  });
}

/** PHP arrays encode as JSON lists when empty or keyed 0..n-1, otherwise as objects. */
function phpArray(map: Params): unknown {
  const keys = Object.keys(map);
  if (keys.every((k, i) => k === String(i))) return keys.map((k) => map[k]);
  return map;
}

function param(params: Params, name: string): unknown {
  if (name in params) return params[name];
  const lower = name.toLowerCase();
  for (const [key, value] of Object.entries(params)) if (key.toLowerCase() === lower) return value;
  return undefined;
}

function configId(params: Params): string {
  const id = str(param(params, "CONFIG_ID"));
  if (!id) throw new BitrixError(400, "CONFIG_ID_EMPTY", "Config ID can't be empty");
  return id;
}

function upperKeys(value: Params): Params {
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k.toUpperCase(), v]));
}

function lowerKeysDeep(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(lowerKeysDeep);
  if (isRecord(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k.toLowerCase(), lowerKeysDeep(v)]));
  }
  return value;
}

/** Open-line configs come back with string scalars (as `imopenlines.config.list.get` shows). */
function stringifyConfig(params: Params): Params {
  return Object.fromEntries(
    Object.entries(upperKeys(params)).map(([k, v]) => [
      k,
      typeof v === "number" || typeof v === "boolean" ? phpScalar(v) : v,
    ]),
  );
}

function chatResult(chat: Params): Params {
  const result: Params = { id: chat.id };
  if (chat.name !== undefined) result.name = chat.name;
  if (typeof chat.url === "string" && chat.url) result.description = `Link to the original post: ${chat.url}`;
  return result;
}

function isGreen(status: ConnectorLineStatus): boolean {
  return status.active && status.connection && status.register && !status.error;
}

function truthy(value: unknown): boolean {
  if (value === undefined || value === null || value === false) return false;
  const text = String(value).trim().toUpperCase();
  return text !== "" && text !== "0" && text !== "N" && text !== "FALSE";
}

function displayName(name: unknown, fallback: string): string {
  if (typeof name === "string") return name;
  if (isRecord(name)) {
    const en = name.en ?? Object.values(name)[0];
    if (typeof en === "string") return en;
  }
  return fallback;
}

function licenseType(family: string): string {
  return family === "ent" ? "ent250" : family;
}

function pick(record: Params, keys: string[]): Params {
  return Object.fromEntries(keys.filter((k) => k in record).map((k) => [k, record[k]]));
}

function compareValues(a: unknown, b: unknown): number {
  const na = Number(a);
  const nb = Number(b);
  if (Number.isFinite(na) && Number.isFinite(nb)) return na - nb;
  return str(a).localeCompare(str(b));
}

function applyOverrides(
  fields: Record<string, string>,
  overrides: Record<string, string>,
): Record<string, string> {
  const result = { ...fields };
  for (const [key, value] of Object.entries(overrides)) result[key] = value;
  return result;
}

function isRecord(value: unknown): value is Params {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function str(value: unknown): string {
  if (value === undefined || value === null) return "";
  return typeof value === "string" ? value : String(value);
}

function hex(bytes: number): string {
  return randomBytes(bytes).toString("hex");
}

function isoSeconds(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}+00:00`;
}
