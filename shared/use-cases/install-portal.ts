import { randomBytes, timingSafeEqual } from "node:crypto";
import { formString } from "../domain/bitrix-connector.ts";
import { isAllowedOutboundUrl } from "../domain/outbound-url.ts";
import { BitrixApiError, ForbiddenError, ValidationError } from "../errors.ts";
import type { Logger } from "../logger.ts";
import type { BitrixGateway, BitrixOAuth } from "../ports/bitrix.ts";
import type { BitrixStore, PortalRecord } from "../ports/bitrix-store.ts";
import type { Clock } from "../ports/clock.ts";
import type { makeConnectPhone } from "./connect-phone.ts";
import { registerAppUi } from "./register-app-ui.ts";
import { setUpPortal } from "./setup-portal.ts";

/**
 * What an install (ONAPPINSTALL event or install page POST) or an ONAPPUPDATE carries that we use. The
 * portal's address and token lifetime are not taken from it: the OAuth server gives those.
 */
export interface PortalGrant {
  readonly memberId: string;
  readonly serverEndpoint?: string;
  readonly accessToken: string;
  readonly refreshToken: string;
  readonly applicationToken: string;
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
  readonly logger: Logger;
  /** Registers (or updates) the CRM robot; its problem joins the set-up error. */
  readonly syncRobot?: (portal: PortalRecord) => Promise<string | null>;
}

/** The grant in an event's `auth` block (ONAPPINSTALL, ONAPPUPDATE). */
export function grantFromAuth(auth: Record<string, unknown>, baseUrl: string): PortalGrant {
  return {
    memberId: formString(auth.member_id),
    serverEndpoint: formString(auth.server_endpoint) || undefined,
    accessToken: formString(auth.access_token),
    refreshToken: formString(auth.refresh_token),
    applicationToken: formString(auth.application_token),
    baseUrl,
  };
}

export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function makeInstallPortal({
  store,
  oauth,
  bitrix,
  connector,
  clock,
  allowLoopbackHttp,
  logger,
  syncRobot,
}: InstallDeps) {
  /** Asks the Bitrix OAuth server — never an endpoint named in the request — whose token this is. */
  async function verify(grant: Pick<PortalGrant, "memberId" | "accessToken">) {
    let info: Awaited<ReturnType<BitrixOAuth["appInfo"]>>;
    try {
      info = await oauth.appInfo(grant.accessToken);
    } catch (error) {
      const refused =
        error instanceof BitrixApiError && (error.httpStatus === 401 || error.httpStatus === 403);
      if (error instanceof BitrixApiError && error.transient && !refused) throw error;
      throw new ForbiddenError("The Bitrix24 OAuth server does not accept this token");
    }
    if (info.memberId !== grant.memberId) throw new ForbiddenError("Token belongs to another portal");
    const app = await store.getBitrixApp(info.clientId);
    if (!app)
      throw new ForbiddenError(
        `Bitrix24 app ${info.clientId} is not registered here (POST /api/admin/bitrix-apps)`,
      );
    return { info, app };
  }

  /**
   * What the request says about where the portal lives is not trusted: the refresh token it carries is
   * exchanged with the OAuth server, whose answer names the portal (member_id) and its REST endpoint.
   * Only a portal administrator may (re)install: otherwise any user who opens the app could swap the
   * portal's tokens and application token for their own.
   */
  async function authoritative(grant: PortalGrant, clientId: string, clientSecret: string) {
    let fresh: Awaited<ReturnType<BitrixOAuth["refresh"]>>;
    try {
      fresh = await oauth.refresh(clientId, clientSecret, grant.refreshToken);
    } catch (error) {
      if (error instanceof BitrixApiError && error.transient && error.httpStatus !== 401) throw error;
      throw new ForbiddenError("The Bitrix24 OAuth server does not accept this refresh token");
    }
    if (fresh.memberId !== grant.memberId || !fresh.clientEndpoint) {
      throw new ForbiddenError("The OAuth server names another portal for this token");
    }
    if (!isAllowedOutboundUrl(fresh.clientEndpoint, allowLoopbackHttp)) {
      throw new ValidationError(`client_endpoint must be an https URL (got ${fresh.clientEndpoint})`);
    }
    const clientEndpoint = fresh.clientEndpoint.endsWith("/")
      ? fresh.clientEndpoint
      : `${fresh.clientEndpoint}/`;
    if (!(await oauth.isAdmin(clientEndpoint, fresh.accessToken))) {
      throw new ForbiddenError("Only a Bitrix24 administrator can install the app");
    }
    return { ...fresh, clientEndpoint };
  }

  /**
   * 1. Check the token with the Bitrix OAuth server (its client id must be a registered Bitrix24 app, its
   *    portal the one claimed), exchange the refresh token there for the portal's real REST endpoint and
   *    fresh tokens, and require a portal administrator.
   * 2. Store the portal by member_id with sealed tokens and application token (a new token version).
   * 3. Set the portal up (event bindings, connector) and re-register the SMS senders an update removes;
   *    what fails is recorded on the portal (`setupError`), not hidden.
   */
  async function install(grant: PortalGrant): Promise<PortalRecord> {
    const { info, app } = await verify(grant);
    const fresh = await authoritative(grant, app.clientId, app.clientSecret);
    const existing = await store.getPortal(grant.memberId);
    const now = clock.now();
    let portal: PortalRecord = {
      memberId: grant.memberId,
      domain: new URL(fresh.clientEndpoint).host,
      clientEndpoint: fresh.clientEndpoint,
      serverEndpoint: grant.serverEndpoint,
      clientId: info.clientId,
      applicationToken: grant.applicationToken,
      handlerSecret: existing?.handlerSecret ?? randomBytes(18).toString("base64url"),
      handlerBaseUrl: grant.baseUrl,
      status: "installed",
      licenseFamily: info.licenseFamily ?? existing?.licenseFamily,
      tokens: {
        accessToken: fresh.accessToken,
        refreshToken: fresh.refreshToken,
        expiresAt: Math.floor(now.getTime() / 1000) + fresh.expiresIn,
        version: (existing?.tokens?.version ?? 0) + 1,
      },
      setupError: null,
      installedAt: existing?.status === "installed" ? existing.installedAt : now.toISOString(),
      updatedAt: now.toISOString(),
    };
    await store.putPortal(portal);
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
    });
    return portal;
  }

  return { install, verify };
}
