import type { AccountStateEntry } from "../domain/account-events.ts";
import { type AppSession, issueAppSession, readAppSession } from "../domain/app-session.ts";
import { BitrixApiError, ForbiddenError, NotFoundError, UnauthorizedError } from "../errors.ts";
import type { AccountEventStore } from "../ports/account-events.ts";
import type { BitrixOAuth } from "../ports/bitrix.ts";
import type { BitrixStore, PhoneRecord } from "../ports/bitrix-store.ts";
import type { Clock } from "../ports/clock.ts";
import type { WabaStore } from "../ports/store.ts";
import type { CallingSettingsBody, CallingSettingsView } from "../schemas/admin.ts";
import { type makeCallingSettings, toCallingView } from "./calling-settings.ts";
import { makeFrameAuth } from "./frame-auth.ts";
import type { makeInstallPortal } from "./install-portal.ts";

export interface AppPageDeps {
  readonly bitrixStore: Pick<BitrixStore, "getPortal" | "getPhone" | "listPhonesOfPortal">;
  readonly wabas: Pick<WabaStore, "getWaba">;
  readonly accountEvents: Pick<AccountEventStore, "getAccountState">;
  readonly installer: Pick<ReturnType<typeof makeInstallPortal>, "verify">;
  readonly oauth: Pick<BitrixOAuth, "isAdmin">;
  readonly calling: Pick<ReturnType<typeof makeCallingSettings>, "put">;
  readonly sessionKey: Buffer;
  readonly clock: Clock;
}

/** One WhatsApp number as the portal's administrator sees it on the app's page. */
export interface NumberView {
  readonly phoneId: string;
  readonly phone: string;
  readonly wabaId: string;
  readonly wabaName: string | null;
  readonly wabaTokenStatus: "valid" | "invalid" | "unknown" | null;
  readonly line: PhoneRecord["line"];
  readonly connector: PhoneRecord["connector"];
  readonly smsService: boolean;
  readonly smsSender: PhoneRecord["smsSender"];
  readonly calling: CallingSettingsView;
  /**
   * Meta's latest `account_update` of the WABA and `phone_number_quality_update` of the number: the
   * `accountState` the admin API shows on `GET /api/admin/wabas/{id}` and `/phones/{id}`.
   */
  readonly account: AccountStateEntry | null;
  readonly quality: AccountStateEntry | null;
}

/**
 * The app's own page in Bitrix24 (the app's "handler path"): who may open it, what it lists, and saving
 * a number's calling settings through the same use-case as `PUT /api/admin/phones/{id}/calling`.
 */
export function makeAppPage({
  bitrixStore,
  wabas,
  accountEvents,
  installer,
  oauth,
  calling,
  sessionKey,
  clock,
}: AppPageDeps) {
  const nowSeconds = () => Math.floor(clock.now().getTime() / 1000);
  const { installedPortal, verifyFrame } = makeFrameAuth({ bitrixStore, installer });

  return {
    /**
     * The frame Bitrix24 posts when a user opens the app:
     * 1. the token is checked at the OAuth server (the install's own check: which app, which portal);
     *    a token it refuses is 401, and nothing of the portal is shown;
     * 2. the portal must be installed here, and the user one of its administrators (`user.admin`, asked
     *    at the portal's REST address stored at install, never one named by the request);
     * 3. a short-lived session bound to that portal is issued for the page's forms.
     */
    async open(frame: {
      memberId: string;
      accessToken: string;
    }): Promise<{ session: string; memberId: string }> {
      const portal = await verifyFrame(frame);
      let admin: boolean;
      try {
        admin = await oauth.isAdmin(portal.clientEndpoint, frame.accessToken);
      } catch (error) {
        if (error instanceof BitrixApiError && (error.httpStatus === 401 || error.httpStatus === 403)) {
          throw new UnauthorizedError("The portal does not accept this token");
        }
        throw error;
      }
      if (!admin) throw new ForbiddenError("Only a Bitrix24 administrator can manage the WhatsApp numbers");
      return {
        session: issueAppSession(sessionKey, "numbers", portal.memberId, nowSeconds()),
        memberId: portal.memberId,
      };
    },

    /** The session behind one of the page's own requests; its portal must still be installed. */
    async authorize(token: string): Promise<AppSession> {
      const session = readAppSession(sessionKey, "numbers", token, nowSeconds());
      if (!session)
        throw new UnauthorizedError("The page's session expired: open the app again from Bitrix24");
      await installedPortal(session.memberId);
      return session;
    },

    /** The portal's numbers, ordered by number, with their WABA, line, connector, SMS and calling state. */
    async numbers(session: AppSession): Promise<NumberView[]> {
      const phones = await bitrixStore.listPhonesOfPortal(session.memberId);
      const wabaIds = [...new Set(phones.map((p) => p.wabaId))];
      const found = new Map(
        await Promise.all(wabaIds.map(async (id) => [id, await wabas.getWaba(id)] as const)),
      );
      const [wabaStates, phoneStates] = await Promise.all([
        Promise.all(wabaIds.map((id) => accountEvents.getAccountState("waba", id))),
        Promise.all(phones.map((p) => accountEvents.getAccountState("phone", p.phoneId))),
      ]);
      const accountOf = new Map(wabaIds.map((id, i) => [id, wabaStates[i]?.status ?? null]));
      return phones
        .map((phone, i) => {
          const waba = found.get(phone.wabaId);
          return {
            phoneId: phone.phoneId,
            phone: phone.phone,
            wabaId: phone.wabaId,
            wabaName: waba?.name ?? null,
            wabaTokenStatus: waba?.tokenStatus ?? null,
            line: phone.line,
            connector: phone.connector,
            smsService: phone.smsService,
            smsSender: phone.smsSender,
            calling: toCallingView(phone.calling),
            account: accountOf.get(phone.wabaId) ?? null,
            quality: phoneStates[i]?.quality ?? null,
          };
        })
        .sort((a, b) => a.phone.localeCompare(b.phone));
    },

    /** Saves through the admin API's use-case; a number of another portal does not exist for this one. */
    async saveCalling(session: AppSession, phoneId: string, body: CallingSettingsBody) {
      const phone = await bitrixStore.getPhone(phoneId);
      if (!phone || phone.memberId !== session.memberId)
        throw new NotFoundError(`Phone ${phoneId} not found`);
      return calling.put(phoneId, body);
    },
  };
}
