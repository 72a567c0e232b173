import { randomBytes, timingSafeEqual } from "node:crypto";
import { formString } from "../domain/bitrix-connector.ts";
import { trustedOAuthServer } from "../domain/oauth-server.ts";
import { isAllowedOutboundUrl } from "../domain/outbound-url.ts";
import { BitrixApiError, ConflictError, ForbiddenError, ValidationError } from "../errors.ts";
import type { Logger } from "../logger.ts";
import type { BitrixAppInfo, BitrixGateway, BitrixOAuth } from "../ports/bitrix.ts";
import type { BitrixAppRecord, BitrixStore, PortalRecord, PortalTokens } from "../ports/bitrix-store.ts";
import type { Clock } from "../ports/clock.ts";
import type { makeConnectPhone } from "./connect-phone.ts";
import { registerAppUi } from "./register-app-ui.ts";
import { setUpPortal } from "./setup-portal.ts";

/**
 * What an install (install page POST, ONAPPINSTALL, ONAPPUSERREADY) or an ONAPPUPDATE carries that we
 * use. Where the portal lives is only checked against it: the OAuth server's `app.info` names the portal.
 */
export interface PortalGrant {
  readonly memberId: string;
  /** The OAuth server the portal belongs to (`…/rest/`); absent from many install pages. */
  readonly serverEndpoint?: string;
  readonly accessToken: string;
  readonly refreshToken: string;
  /** Absent from most install pages: Bitrix24 sends it with ONAPPINSTALL. */
  readonly applicationToken?: string;
  /** The portal's domain / REST base as the request states them. */
  readonly domain?: string;
  readonly clientEndpoint?: string;
  readonly expiresIn?: number;
  /** The origin Bitrix24 reached us at: base of the handler URLs we register. */
  readonly baseUrl: string;
}

export interface InstallDeps {
  readonly store: BitrixStore;
  readonly oauth: BitrixOAuth;
  readonly bitrix: BitrixGateway;
  readonly connector: ReturnType<typeof makeConnectPhone>;
  readonly clock: Clock;
  readonly allowLoopbackHttp: boolean;
  /** `BITRIX_OAUTH_URLS`: the only servers asked whether a token is genuine. */
  readonly oauthServers: readonly string[];
  readonly logger: Logger;
  /** Registers (or updates) the CRM robot; its problem joins the set-up error. */
  readonly syncRobot?: (portal: PortalRecord) => Promise<string | null>;
}

/**
 * ONAPPUSERREADY's `data`: the system user's tokens. Its `domain` is the OAuth server's, not the
 * portal's, so only `client_endpoint` is compared.
 */
export function grantFromSystemUser(data: Record<string, unknown>, baseUrl: string): PortalGrant {
  const { domain: _oauthServerDomain, ...grant } = grantFromAuth(data, baseUrl);
  return { ...grant, applicationToken: undefined };
}

/** The grant in an event's `auth` block (ONAPPINSTALL, ONAPPUPDATE, ONAPPUSERREADY's installing admin). */
export function grantFromAuth(auth: Record<string, unknown>, baseUrl: string): PortalGrant {
  return {
    memberId: formString(auth.member_id),
    serverEndpoint: formString(auth.server_endpoint) || undefined,
    accessToken: formString(auth.access_token),
    refreshToken: formString(auth.refresh_token),
    applicationToken: formString(auth.application_token) || undefined,
    domain: formString(auth.domain) || undefined,
    clientEndpoint: formString(auth.client_endpoint) || undefined,
    expiresIn: Number(formString(auth.expires_in)) || undefined,
    baseUrl,
  };
}

export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Writers of one portal at a time are few (page, ONAPPINSTALL, ONAPPUSERREADY): a few rounds settle them. */
const SAVE_ATTEMPTS = 5;

interface Verified {
  readonly info: BitrixAppInfo;
  readonly app: BitrixAppRecord;
  /** The trusted OAuth server that vouched for the token. */
  readonly server: string;
  readonly clientEndpoint: string;
}

export function makeInstallPortal({
  store,
  oauth,
  bitrix,
  connector,
  clock,
  allowLoopbackHttp,
  oauthServers,
  logger,
  syncRobot,
}: InstallDeps) {
  /** The servers to ask: the one the request names (only if trusted), else each trusted one in turn. */
  function candidateServers(grant: Pick<PortalGrant, "serverEndpoint">): readonly string[] {
    if (!grant.serverEndpoint) return oauthServers;
    const server = trustedOAuthServer(grant.serverEndpoint, oauthServers);
    if (!server) {
      throw new ValidationError(
        `server_endpoint ${grant.serverEndpoint} is not a Bitrix24 OAuth server this deployment trusts (BITRIX_OAUTH_URLS)`,
      );
    }
    return [server];
  }

  /**
   * Asks a trusted OAuth server whose token this is: its client must be a registered app, and the
   * portal `app.info` names (`install.member_id`, `install.domain`, `install.client_endpoint`) the one
   * the request claims. A server that does not know the token (another region) is passed over.
   */
  async function verify(
    grant: Pick<PortalGrant, "memberId" | "accessToken" | "serverEndpoint" | "domain" | "clientEndpoint">,
  ): Promise<Verified> {
    let found: { info: BitrixAppInfo; server: string } | undefined;
    for (const server of candidateServers(grant)) {
      try {
        found = { info: await oauth.appInfo(server, grant.accessToken), server };
        break;
      } catch (error) {
        if (error instanceof BitrixApiError && error.transient && error.httpStatus !== 401) throw error;
        if (!(error instanceof BitrixApiError)) throw error;
      }
    }
    if (!found) throw new ForbiddenError("No trusted Bitrix24 OAuth server accepts this token");
    const { info, server } = found;
    if (info.memberId !== grant.memberId) throw new ForbiddenError("Token belongs to another portal");
    if (grant.domain && info.domain?.toLowerCase() !== grant.domain.toLowerCase()) {
      throw new ForbiddenError("Token belongs to another portal (domain)");
    }
    const clientEndpoint = withSlash(info.clientEndpoint ?? "");
    if (grant.clientEndpoint && withSlash(grant.clientEndpoint) !== clientEndpoint) {
      throw new ForbiddenError("Token belongs to another portal (client_endpoint)");
    }
    if (!isAllowedOutboundUrl(clientEndpoint, allowLoopbackHttp)) {
      throw new ValidationError(
        `client_endpoint must be an https URL (got ${info.clientEndpoint ?? "none"})`,
      );
    }
    const app = await store.getBitrixApp(info.clientId);
    if (!app)
      throw new ForbiddenError(
        `Bitrix24 app ${info.clientId} is not registered here (POST /api/admin/bitrix-apps)`,
      );
    return { info, app, server, clientEndpoint };
  }

  /**
   * Only a portal administrator may (re)install: otherwise any user who opens the app could swap the
   * portal's tokens and application token for their own.
   */
  async function verifyInstaller(grant: PortalGrant): Promise<Verified> {
    const verified = await verify(grant);
    if (!(await oauth.isAdmin(verified.clientEndpoint, grant.accessToken))) {
      throw new ForbiddenError("Only a Bitrix24 administrator can install the app");
    }
    return verified;
  }

  /** The portal's licence family (`LICENSE_FAMILY` of its own app.info) paces REST calls; best effort. */
  async function licenseFamilyOf(clientEndpoint: string, accessToken: string): Promise<string | undefined> {
    try {
      return (await oauth.portalLicense(clientEndpoint, accessToken)).licenseFamily;
    } catch (error) {
      logger.warn("portal licence not read", { error: (error as Error).message });
      return undefined;
    }
  }

  function tokensOf(grant: PortalGrant, info: BitrixAppInfo, version: number, systemUser: boolean) {
    const nowSeconds = Math.floor(clock.now().getTime() / 1000);
    const tokens: PortalTokens = {
      accessToken: grant.accessToken,
      refreshToken: grant.refreshToken,
      expiresAt: info.expiresAt ?? nowSeconds + (grant.expiresIn ?? 3600),
      version,
      ...(systemUser ? { systemUser: true } : {}),
    };
    return tokens;
  }

  /**
   * Reads the stored portal, builds the next one from it and writes it only if nobody wrote in between;
   * otherwise reads again. The install page and ONAPPINSTALL run side by side on real portals: whichever
   * writes second builds on the first's record, so neither the application token nor the handler secret
   * the other's set-up registered is lost.
   */
  async function saveMerged(
    memberId: string,
    next: (existing: PortalRecord | undefined) => PortalRecord,
  ): Promise<PortalRecord> {
    for (let attempt = 1; ; attempt++) {
      const existing = await store.getPortal(memberId);
      const portal = next(existing);
      if (await store.savePortal(portal, existing)) return portal;
      if (attempt >= SAVE_ATTEMPTS) throw new ConflictError(`Portal ${memberId} kept changing; try again`);
    }
  }

  /**
   * 1. Verify the token at the portal's trusted OAuth server and require a portal administrator.
   * 2. Store the portal by member_id with sealed tokens (a new token version; the system user's tokens,
   *    once we have them, are kept) and the application token when the request carries one — until
   *    then the portal's events are refused.
   * 3. Set the portal up (event bindings, connector) and re-register the SMS senders an update removes;
   *    what fails is recorded on the portal (`setupError`), not hidden.
   */
  async function install(grant: PortalGrant): Promise<PortalRecord> {
    const { info, server, clientEndpoint } = await verifyInstaller(grant);
    const licenseFamily = await licenseFamilyOf(clientEndpoint, grant.accessToken);
    let portal = await saveMerged(grant.memberId, (existing) => {
      const now = clock.now().toISOString();
      const keepSystemUser = existing?.status === "installed" && existing.tokens?.systemUser === true;
      return {
        memberId: grant.memberId,
        domain: new URL(clientEndpoint).host,
        clientEndpoint,
        serverEndpoint: `${server}/rest/`,
        clientId: info.clientId,
        applicationToken:
          grant.applicationToken ?? (existing?.status === "installed" ? existing.applicationToken : ""),
        handlerSecret: existing?.handlerSecret ?? randomBytes(18).toString("base64url"),
        handlerBaseUrl: grant.baseUrl,
        status: "installed",
        licenseFamily: licenseFamily ?? existing?.licenseFamily,
        adminUserIds: [
          ...new Set([...(existing?.adminUserIds ?? []), ...(info.userId ? [info.userId] : [])]),
        ].slice(-10),
        tokens:
          keepSystemUser && existing?.tokens
            ? existing.tokens
            : tokensOf(grant, info, (existing?.tokens?.version ?? 0) + 1, false),
        setupError: null,
        installedAt: existing?.status === "installed" ? existing.installedAt : now,
        updatedAt: now,
      };
    });
    const setupError =
      [
        await setUpPortal(bitrix, portal),
        await registerAppUi(bitrix, portal),
        (await syncRobot?.(portal)) ?? null,
      ]
        .filter(Boolean)
        .join("; ") || null;
    portal = { ...portal, setupError };
    // Only the outcome: tokens or the endpoint may have moved on while set-up ran (a refresh, a 302).
    await store.setPortalSetupError(portal.memberId, setupError);
    if (setupError) logger.warn("portal set-up incomplete", { memberId: portal.memberId, setupError });
    for (const phone of await store.listPhonesOfPortal(portal.memberId)) {
      if (phone.smsService) await connector.syncSmsSender(phone, portal);
    }
    logger.info("portal installed", {
      memberId: portal.memberId,
      domain: portal.domain,
      clientId: portal.clientId,
      awaitingApplicationToken: !portal.applicationToken,
    });
    return portal;
  }

  /**
   * ONAPPINSTALL, which real portals send before or after the install page. Either order ends in the same
   * installed portal: the event installs it, or brings the application token to the portal the page
   * installed. A repeated event (the token we hold) changes nothing.
   */
  async function installFromEvent(grant: PortalGrant): Promise<PortalRecord> {
    const token = grant.applicationToken;
    if (!token) throw new ValidationError("Install event without auth[application_token]");
    let verified = false;
    for (let attempt = 1; ; attempt++) {
      const existing = await store.getPortal(grant.memberId);
      if (existing?.status !== "installed") return install(grant);
      if (existing.applicationToken) {
        return sameSecret(token, existing.applicationToken) ? existing : install(grant);
      }
      if (!verified) {
        await verifyInstaller(grant);
        verified = true;
        continue; // read again: the page may have written while the OAuth server answered
      }
      const portal = { ...existing, applicationToken: token, updatedAt: clock.now().toISOString() };
      if (await store.savePortal(portal, existing)) {
        logger.info("portal application token received", { memberId: portal.memberId });
        return portal;
      }
      if (attempt >= SAVE_ATTEMPTS)
        throw new ConflictError(`Portal ${grant.memberId} kept changing; try again`);
    }
  }

  /**
   * ONAPPUSERREADY's `data`: the app's system user's tokens. Verified like an install (trusted OAuth
   * server, same portal, registered app); the event itself was authenticated by its application token.
   */
  async function adoptSystemUser(grant: PortalGrant): Promise<PortalRecord> {
    const { info } = await verify(grant);
    const portal = await saveMerged(grant.memberId, (existing) => {
      if (existing?.status !== "installed") throw new ForbiddenError("The portal is not installed");
      return {
        ...existing,
        tokens: tokensOf(grant, info, (existing.tokens?.version ?? 0) + 1, true),
        updatedAt: clock.now().toISOString(),
      };
    });
    logger.info("portal uses the app's system user", { memberId: portal.memberId, userId: info.userId });
    return portal;
  }

  /**
   * ONAPPUSERREADY: `auth` is the installing admin's (with the application token), `data` the system
   * user's. An event whose application token we do not hold yet is taken as an install first (it may
   * come before ONAPPINSTALL); then the portal switches to the system user's tokens.
   */
  async function systemUserReady(admin: PortalGrant, systemUser: PortalGrant): Promise<PortalRecord> {
    const token = admin.applicationToken;
    if (!token) throw new ValidationError("ONAPPUSERREADY without auth[application_token]");
    if (systemUser.memberId !== admin.memberId) throw new ForbiddenError("Token belongs to another portal");
    const existing = await store.getPortal(admin.memberId);
    const authentic =
      existing?.status === "installed" &&
      Boolean(existing.applicationToken) &&
      sameSecret(token, existing.applicationToken);
    // The docs' example gives auth.domain as the OAuth server's, their table as the portal's: not compared.
    if (!authentic) await installFromEvent({ ...admin, domain: undefined });
    return adoptSystemUser(systemUser);
  }

  return { install, installFromEvent, systemUserReady, verify };
}

function withSlash(url: string): string {
  return url.endsWith("/") ? url : `${url}/`;
}
