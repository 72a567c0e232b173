import { ForbiddenError, UnauthorizedError } from "../errors.ts";
import type { BitrixStore, PortalRecord } from "../ports/bitrix-store.ts";
import type { makeInstallPortal } from "./install-portal.ts";

/**
 * Who opened one of the app's pages in Bitrix24: the frame's token is checked with the install's own
 * verification at the OAuth server (which app, which portal), and the portal must be installed here.
 * A refused, foreign or unknown-app token is the same 401 for all, so nothing is learned from it.
 */
export function makeFrameAuth({
  bitrixStore,
  installer,
}: {
  bitrixStore: Pick<BitrixStore, "getPortal">;
  installer: Pick<ReturnType<typeof makeInstallPortal>, "verify">;
}) {
  async function installedPortal(memberId: string): Promise<PortalRecord> {
    const portal = memberId ? await bitrixStore.getPortal(memberId) : undefined;
    if (portal?.status !== "installed")
      throw new UnauthorizedError("The app is not installed on this portal");
    return portal;
  }

  async function verifyFrame(frame: { memberId: string; accessToken: string }): Promise<PortalRecord> {
    if (!frame.memberId || !frame.accessToken) throw new UnauthorizedError("No Bitrix24 frame token");
    try {
      await installer.verify(frame);
    } catch (error) {
      if (error instanceof ForbiddenError) throw new UnauthorizedError(error.message);
      throw error;
    }
    return installedPortal(frame.memberId);
  }

  return { installedPortal, verifyFrame };
}
