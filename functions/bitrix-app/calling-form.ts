import { type CallingSettingsBody, callingSettingsBody } from "#shared/schemas/admin.ts";
import type { FieldErrors } from "./numbers-page.ts";

/** What to type instead, by field: the page shows these next to the field, named as the form labels it. */
const FIX: Record<keyof FieldErrors, string> = {
  calling: "Calls: tick or untick the box.",
  sip: "SIP: tick or untick the box.",
  host: "Server: enter the SIP server's host name only, e.g. sip.example.com (no https://, port or path).",
  port: "TLS port: enter a whole number from 1 to 65535 (Meta's default is 5061).",
};

/** Names a validation issue's path (`sip.host`) by the field of the form that holds it. */
export function fieldOf(path: readonly PropertyKey[]): keyof FieldErrors | undefined {
  const last = path.at(-1);
  if (path[0] === "sip" && (last === "host" || last === "port")) return last;
  if (path.length === 1 && path[0] === "sip") return "sip";
  if (path[0] === "calling") return "calling";
  return undefined;
}

export function fieldErrorsOf(issues: readonly { path: readonly PropertyKey[]; message: string }[]) {
  const errors: FieldErrors = {};
  for (const issue of issues) {
    const field = fieldOf(issue.path);
    if (!field) continue;
    errors[field] =
      field === "host" && /required/i.test(issue.message)
        ? "Server: enter the SIP server's host name to turn SIP on."
        : FIX[field];
  }
  return errors;
}

/**
 * The calling form (checkboxes, a host name, a port) as the body of `PUT /api/admin/phones/{id}/calling`.
 * An empty Server keeps the server configured before, as an omitted `sip.host` does in the API.
 */
export function parseCallingForm(
  form: URLSearchParams,
): { body: CallingSettingsBody } | { fieldErrors: FieldErrors } {
  const host = (form.get("host") ?? "").trim();
  const port = (form.get("port") ?? "").trim();
  const parsed = callingSettingsBody.safeParse({
    calling: form.get("calling") === "enabled" ? "enabled" : "disabled",
    sip: {
      status: form.get("sip") === "enabled" ? "enabled" : "disabled",
      ...(host ? { host } : {}),
      ...(port ? { port: /^\d+$/.test(port) ? Number(port) : port } : {}),
    },
  });
  if (parsed.success) return { body: parsed.data };
  return { fieldErrors: fieldErrorsOf(parsed.error.issues) };
}
