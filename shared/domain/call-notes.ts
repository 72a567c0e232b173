/**
 * Chat notes for WhatsApp calls (the `calls` webhook field, sent only while SIP is off): `calls[]`
 * `connect`/`terminate` events and the `statuses[]` (`type: "call"`) of calls the business placed.
 * The operator gets one short English line per event worth knowing; the rest yields `undefined`.
 */
type Json = Record<string, unknown>;

/**
 * @param item one `calls[]` entry (`kind: "call"`) or one call `statuses[]` entry (`kind: "callstatus"`)
 * @param errors `value.errors[]` of the same change: Meta reports why a call failed there, beside the item
 */
export function describeCallEvent(
  item: Record<string, unknown>,
  kind: "call" | "callstatus",
  errors: readonly unknown[] = [],
): string | undefined {
  const reason = errorSuffix([...errors, ...(Array.isArray(item.errors) ? item.errors : [])]);
  return kind === "call" ? describeCall(item, reason) : describeStatus(item, reason);
}

function describeCall(call: Json, reason: string): string | undefined {
  const outgoing = upper(call.direction) === "BUSINESS_INITIATED";
  const event = typeof call.event === "string" ? call.event.toLowerCase() : undefined;
  if (event === "connect") {
    if (outgoing) return "Outgoing WhatsApp call connected";
    const from = phone(call.from);
    return `Incoming WhatsApp call${from ? ` from ${from}` : ""}`;
  }
  if (event !== "terminate") return undefined;

  const duration = durationOf(call);
  const failed = upper(call.status) === "FAILED";
  if (duration !== undefined && duration > 0) {
    return failed
      ? `WhatsApp call dropped after ${formatDuration(duration)}${reason}`
      : `WhatsApp call ended, ${formatDuration(duration)}${reason}`;
  }
  // Completed without a duration: Meta did not say how long, which is not evidence nobody answered.
  if (!failed && duration === undefined) return `WhatsApp call ended${reason}`;
  if (outgoing)
    return `${failed ? "Outgoing WhatsApp call failed" : "Outgoing WhatsApp call not answered"}${reason}`;
  const from = phone(call.from);
  return `Missed WhatsApp call${from ? ` from ${from}` : ""}${reason}`;
}

function describeStatus(status: Json, reason: string): string | undefined {
  switch (upper(status.status)) {
    case "RINGING":
      return "Outgoing WhatsApp call: ringing";
    case "ACCEPTED":
      return "Outgoing WhatsApp call: the customer answered";
    case "REJECTED":
      return `Outgoing WhatsApp call: the customer declined${reason}`;
    case "FAILED":
      return `Outgoing WhatsApp call failed${reason}`;
    default:
      return undefined;
  }
}

/** `duration` in seconds when Meta gives it, else `end_time - start_time` (Unix seconds). */
function durationOf(call: Json): number | undefined {
  const duration = numeric(call.duration);
  if (duration !== undefined) return Math.max(0, Math.round(duration));
  const start = numeric(call.start_time);
  const end = numeric(call.end_time);
  return start !== undefined && end !== undefined ? Math.max(0, Math.round(end - start)) : undefined;
}

/** Only called with a positive whole number of seconds. */
function formatDuration(totalSeconds: number): string {
  const hours = Math.floor(totalSeconds / 3600);
  const minutes = Math.floor((totalSeconds % 3600) / 60);
  const secs = totalSeconds % 60;
  const parts = [hours ? `${hours} h` : "", minutes ? `${minutes} min` : "", secs ? `${secs} s` : ""];
  return parts.filter(Boolean).join(" ");
}

function errorSuffix(errors: readonly unknown[]): string {
  const reasons = errors
    .filter((e): e is Json => typeof e === "object" && e !== null)
    .map((e) => {
      const code = numeric(e.code);
      const title = text(e.title) ?? text(e.message);
      const details = text((e.error_data as Json | undefined)?.details);
      const head = [code, title].filter((x) => x !== undefined).join(": ");
      return [head, details].filter(Boolean).join(" — ");
    })
    .filter(Boolean);
  return reasons.length > 0 ? ` (${reasons.join("; ")})` : "";
}

function phone(v: unknown): string | undefined {
  const digits = typeof v === "string" ? v.replace(/\D/g, "") : "";
  return digits ? `+${digits}` : undefined;
}

function upper(v: unknown): string | undefined {
  return typeof v === "string" ? v.toUpperCase() : undefined;
}

function numeric(v: unknown): number | undefined {
  const n = typeof v === "string" && v.trim() !== "" ? Number(v) : v;
  return typeof n === "number" && Number.isFinite(n) ? n : undefined;
}

function text(v: unknown): string | undefined {
  return typeof v === "string" && v.trim().length > 0 ? v.trim() : undefined;
}
