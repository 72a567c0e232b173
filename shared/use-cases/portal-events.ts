import { CONNECTOR_ID, formString } from "../domain/bitrix-connector.ts";
import { jobsFromConnectorEvent, type OutboundJob } from "../domain/outbound-job.ts";
import { UnauthorizedError } from "../errors.ts";
import type { Logger } from "../logger.ts";
import type { BitrixStore, PhoneRecord, PortalRecord } from "../ports/bitrix-store.ts";
import type { Clock } from "../ports/clock.ts";
import { grantFromAuth, type makeInstallPortal, type PortalGrant, sameSecret } from "./install-portal.ts";

export interface PortalEvent {
  readonly event: string;
  readonly data: unknown;
  readonly auth: Record<string, unknown>;
  /** The per-portal secret from the handler URL we registered (`?h=`), when the call carried one. */
  readonly handlerSecret?: string;
  readonly baseUrl: string;
  /** The event's `ts`: tells repeated edits/deletions of one message apart. */
  readonly ts?: string;
}

/**
 * Authenticates and handles a Bitrix24 event. Every event must carry the application token stored for
 * its member_id (constant-time compare); events only ever sent to the handler URL we bound must also
 * carry that URL's secret. ONAPPUPDATE brings a new application token, so it is verified like an install
 * (its access token with the Bitrix OAuth server) instead.
 */
export function makeHandlePortalEvent(deps: {
  store: BitrixStore;
  installer: ReturnType<typeof makeInstallPortal>;
  /** Operators' messages go through the outbound queue: the event is answered at once (Bitrix24 never retries). */
  outbound: { enqueue(jobs: readonly OutboundJob[]): Promise<void> };
  clock: Clock;
  logger: Logger;
}) {
  const { store, installer, outbound, clock, logger } = deps;

  async function authenticate(e: PortalEvent): Promise<PortalRecord> {
    const memberId = formString(e.auth.member_id);
    const portal = memberId ? await store.getPortal(memberId) : undefined;
    if (!portal) throw new UnauthorizedError("Unknown portal");
    if (e.handlerSecret !== undefined && !sameSecret(e.handlerSecret, portal.handlerSecret)) {
      throw new UnauthorizedError("Handler secret does not match");
    }
    if (e.event.startsWith("ONIMCONNECTOR") && e.handlerSecret === undefined) {
      throw new UnauthorizedError("Connector events must come to the handler URL registered for the portal");
    }
    if (e.event === "ONAPPUPDATE") return portal;
    const token = formString(e.auth.application_token);
    if (!token || portal.status !== "installed" || !sameSecret(token, portal.applicationToken)) {
      throw new UnauthorizedError("Application token does not match the portal's");
    }
    return portal;
  }

  async function detach(
    memberId: string,
    lineId: number,
    error: string,
    keepLine: boolean,
  ): Promise<PhoneRecord | undefined> {
    const phone = await store.findPhoneByLine(memberId, lineId);
    if (!phone) return undefined;
    const next: PhoneRecord = {
      ...phone,
      line: keepLine ? phone.line : null,
      connector: { status: "error", error },
      updatedAt: clock.now().toISOString(),
    };
    await store.putPhone(next, phone);
    logger.warn("phone detached in Bitrix24", { phoneId: phone.phoneId, memberId, lineId, error });
    return next;
  }

  return async function handlePortalEvent(e: PortalEvent): Promise<{ handled: string }> {
    const portal = await authenticate(e);
    switch (e.event) {
      case "ONAPPUNINSTALL": {
        // Bitrix24 has already revoked our access and removed the connector and senders; keep nothing secret.
        await store.putPortal({
          ...portal,
          status: "uninstalled",
          tokens: null,
          applicationToken: "",
          updatedAt: clock.now().toISOString(),
        });
        for (const phone of await store.listPhonesOfPortal(portal.memberId)) {
          await store.putPhone(
            {
              ...phone,
              connector: { status: "error", error: "The Bitrix24 app was uninstalled from the portal" },
              smsSender: null,
              updatedAt: clock.now().toISOString(),
            },
            phone,
          );
        }
        logger.info("portal uninstalled", { memberId: portal.memberId });
        return { handled: "uninstalled" };
      }
      case "ONAPPUPDATE": {
        const fromEvent = grantFromAuth(e.auth, portal.handlerBaseUrl);
        const grant: PortalGrant = {
          ...fromEvent,
          memberId: portal.memberId,
          serverEndpoint: fromEvent.serverEndpoint ?? portal.serverEndpoint,
        };
        if (!grant.accessToken || !grant.refreshToken || !grant.applicationToken) {
          // Without an application token the portal would stop accepting its own events.
          throw new UnauthorizedError("ONAPPUPDATE without tokens");
        }
        await installer.install(grant);
        return { handled: "updated" };
      }
      case "ONIMCONNECTORLINEDELETE": {
        const lineId = Number(formString(e.data));
        await detach(
          portal.memberId,
          lineId,
          "The open line was deleted in Bitrix24; PATCH the phone to reconnect",
          false,
        );
        return { handled: "line-deleted" };
      }
      case "ONIMCONNECTORSTATUSDELETE": {
        const data = (e.data ?? {}) as Record<string, unknown>;
        if (formString(data.connector ?? data.CONNECTOR) !== CONNECTOR_ID) return { handled: "ignored" };
        const lineId = Number(formString(data.line ?? data.LINE));
        await detach(
          portal.memberId,
          lineId,
          "The connector was disconnected from the open line in Bitrix24; PATCH the phone to reconnect",
          true,
        );
        return { handled: "connector-disconnected" };
      }
      case "ONIMCONNECTORMESSAGEADD":
      case "ONIMCONNECTORMESSAGEUPDATE":
      case "ONIMCONNECTORMESSAGEDELETE": {
        const data = (e.data ?? {}) as Record<string, unknown>;
        if (formString(data.CONNECTOR) !== CONNECTOR_ID) return { handled: "ignored" };
        const jobs = jobsFromConnectorEvent(e.event, portal.memberId, data, formString(e.ts));
        await outbound.enqueue(jobs);
        logger.info("operator messages queued", {
          memberId: portal.memberId,
          event: e.event,
          count: jobs.length,
        });
        return { handled: `queued:${jobs.length}` };
      }
      default:
        logger.info("Bitrix24 event not handled", { event: e.event, memberId: portal.memberId });
        return { handled: "ignored" };
    }
  };
}
