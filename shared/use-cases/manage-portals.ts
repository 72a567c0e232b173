import { ConflictError, NotFoundError } from "../errors.ts";
import type { BitrixStore, PortalRecord } from "../ports/bitrix-store.ts";
import type { Page } from "../ports/store.ts";

export function toPortalView(portal: PortalRecord) {
  return {
    memberId: portal.memberId,
    domain: portal.domain,
    clientId: portal.clientId,
    status: portal.status,
    ...(portal.licenseFamily ? { licenseFamily: portal.licenseFamily } : {}),
    setupError: portal.setupError,
    ...(portal.status === "installed" && !portal.applicationToken ? { awaitingApplicationToken: true } : {}),
    installedAt: portal.installedAt,
    updatedAt: portal.updatedAt,
  };
}

export function makeManagePortals({ store }: { store: BitrixStore }) {
  async function get(memberId: string): Promise<PortalRecord> {
    const portal = await store.getPortal(memberId);
    if (!portal) throw new NotFoundError(`Portal ${memberId} not found`);
    return portal;
  }
  return {
    get,
    list(cursor: string | undefined, limit: number): Promise<Page<PortalRecord>> {
      return store.listPortals(cursor, limit);
    },
    /** Forgets a portal (tokens included); its phones must be deleted or moved first. */
    async remove(memberId: string): Promise<void> {
      await get(memberId);
      const phones = await store.listPhonesOfPortal(memberId);
      if (phones.length > 0)
        throw new ConflictError(
          `Portal ${memberId} still has ${phones.length} phone(s); delete or move them first`,
        );
      await store.deletePortal(memberId);
    },
  };
}
