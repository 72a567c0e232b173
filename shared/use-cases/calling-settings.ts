import { GraphApiError, NotFoundError, ValidationError } from "../errors.ts";
import type { BitrixStore, PhoneCalling, PhoneRecord } from "../ports/bitrix-store.ts";
import type { Clock } from "../ports/clock.ts";
import type { CallingSettingsRequest, GraphTarget, MetaGraph } from "../ports/meta-graph.ts";
import type { AppStore, WabaStore } from "../ports/store.ts";
import type { CallingSettingsBody, CallingSettingsView } from "../schemas/admin.ts";

/** Meta's documented default SIP port (TLS). */
export const DEFAULT_SIP_PORT = 5061;

export interface CallingSettingsDeps {
  readonly store: Pick<AppStore & WabaStore, "getWaba" | "getApp">;
  readonly bitrixStore: Pick<BitrixStore, "getPhone" | "setPhoneCalling">;
  readonly graph: Pick<MetaGraph, "updateCallingSettings">;
  readonly clock: Clock;
}

/** What a number that was never configured through the admin API shows: Meta's defaults, nothing asked. */
const NEVER_SET: CallingSettingsView = {
  calling: "disabled",
  sip: { status: "disabled", host: null, port: DEFAULT_SIP_PORT },
  error: null,
  updatedAt: null,
};

export function toCallingView(calling: PhoneCalling | undefined): CallingSettingsView {
  if (!calling) return NEVER_SET;
  return {
    calling: calling.calling,
    sip: { status: calling.sip.status, host: calling.sip.host, port: calling.sip.port },
    error: calling.error,
    updatedAt: calling.updatedAt,
  };
}

/**
 * The `POST /{phone-id}/settings` body for the asked settings (meta-whatsapp.md §6.1; the shape of the
 * fixture calling_settings_post_enable_sip.json, with the port as in calling_settings_post_full_normalized).
 * The configured server is sent whatever the SIP status: with SIP disabled Meta keeps it, whereas an empty
 * list would delete it and Meta would issue a new SIP password when it is added again (SPEC §5).
 */
export function toMetaCallingSettings(
  settings: Pick<PhoneCalling, "calling" | "sip">,
): CallingSettingsRequest {
  const { host, port, status } = settings.sip;
  return {
    calling: {
      status: settings.calling === "enabled" ? "ENABLED" : "DISABLED",
      sip: {
        status: status === "enabled" ? "ENABLED" : "DISABLED",
        ...(host ? { servers: [{ hostname: host, port }] } : {}),
      },
    },
  };
}

/** Meta's refusal as the admin sees it: `{code, message, details?}`. */
function refusal(error: GraphApiError): NonNullable<PhoneCalling["error"]> {
  const details = (error.details as { details?: unknown } | undefined)?.details;
  return {
    code: error.graphCode ?? null,
    message: error.message,
    ...(typeof details === "string" ? { details } : {}),
  };
}

/**
 * `GET|PUT /api/admin/phones/{phoneId}/calling` (SPEC §4.2): calls and the SIP trunk of a number, applied
 * to Meta with the WABA's token and its app's Graph version. The stored settings are always what was
 * asked; `error` says whether Meta applied them (null) or why it refused (then the answer is 502).
 */
export function makeCallingSettings({ store, bitrixStore, graph, clock }: CallingSettingsDeps) {
  async function requirePhone(phoneId: string): Promise<PhoneRecord> {
    const phone = await bitrixStore.getPhone(phoneId);
    if (!phone) throw new NotFoundError(`Phone ${phoneId} not found`);
    return phone;
  }

  async function targetOf(phone: PhoneRecord): Promise<GraphTarget> {
    const waba = await store.getWaba(phone.wabaId);
    if (!waba) throw new NotFoundError(`WABA ${phone.wabaId} of phone ${phone.phoneId} not found`);
    const app = await store.getApp(waba.appId);
    if (!app) throw new NotFoundError(`App ${waba.appId} of WABA ${waba.wabaId} not found`);
    return { accessToken: waba.accessToken, graphApiVersion: app.graphApiVersion };
  }

  return {
    async get(phoneId: string): Promise<CallingSettingsView> {
      return toCallingView((await requirePhone(phoneId)).calling);
    },

    /**
     * 1. The phone must exist (404). A body without `sip.host` keeps the server configured before (with
     *    its port); SIP cannot be enabled without any server (400).
     * 2. Send the settings to Meta; store them with Meta's verdict either way.
     * @returns 200 when Meta applied them, 502 when it refused (or could not be reached); same body.
     */
    async put(
      phoneId: string,
      body: CallingSettingsBody,
    ): Promise<{ status: 200 | 502; body: CallingSettingsView }> {
      const phone = await requirePhone(phoneId);
      const previous = phone.calling?.sip;
      const sip: PhoneCalling["sip"] = body.sip.host
        ? { status: body.sip.status, host: body.sip.host, port: body.sip.port ?? DEFAULT_SIP_PORT }
        : {
            status: body.sip.status,
            host: previous?.host ?? null,
            // A port given without a host changes the port of the server already configured.
            port: body.sip.port ?? previous?.port ?? DEFAULT_SIP_PORT,
          };
      if (sip.status === "enabled" && !sip.host) {
        throw new ValidationError("sip.host: required to enable SIP (no SIP server is configured yet)", [
          { path: ["sip", "host"], message: "required to enable SIP" },
        ]);
      }
      const target = await targetOf(phone);
      const asked = { calling: body.calling, sip };

      let error: PhoneCalling["error"] = null;
      try {
        await graph.updateCallingSettings(phoneId, toMetaCallingSettings(asked), target);
      } catch (failure) {
        if (!(failure instanceof GraphApiError)) throw failure;
        error = refusal(failure);
      }
      const stored: PhoneCalling = { ...asked, error, updatedAt: clock.now().toISOString() };
      await bitrixStore.setPhoneCalling(phoneId, stored);
      return { status: error ? 502 : 200, body: toCallingView(stored) };
    },
  };
}
