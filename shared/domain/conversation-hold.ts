/**
 * A conversation (a FIFO message group) held behind its dead letters: while one of its messages is a
 * dead letter, its later messages are parked as dead letters too, and a redrive brings them back in
 * their order. A hold is the set of its outstanding letters, each as an entry `<order key>#<letter id>`:
 * the order key is the SQS sequence number the message first had (it grows within a message group),
 * zero-padded so that entries sort as their keys do.
 */

/** SQS sequence numbers are 128-bit numbers: at most 39 decimal digits. */
const KEY_DIGITS = 40;

export interface HoldEntry {
  readonly orderKey: string;
  readonly letterId: string;
}

export function holdEntry(orderKey: string, letterId: string): string {
  return `${orderKey.padStart(KEY_DIGITS, "0")}#${letterId}`;
}

export function parseHoldEntry(entry: string): HoldEntry {
  const at = entry.indexOf("#");
  return { orderKey: entry.slice(0, at).replace(/^0+(?=\d)/, ""), letterId: entry.slice(at + 1) };
}

/** Compares order keys as the numbers they are. */
export function compareOrderKeys(a: string, b: string): number {
  return a.padStart(KEY_DIGITS, "0").localeCompare(b.padStart(KEY_DIGITS, "0"));
}

/** What the worker may do with a record of a group, given the group's outstanding entries. */
export type HoldDecision =
  | { readonly pass: true }
  /** It is that dead letter already (its batch was cut off after recording it): nothing more to do. */
  | { readonly pass: false; readonly alreadyLetter: true }
  | { readonly pass: false; readonly alreadyLetter?: false; readonly behind: HoldEntry };

/**
 * A new record passes only when nothing of its group is outstanding. A redriven one (it keeps the
 * order key and letter id it had as a dead letter) passes when no letter with a lower key is still
 * outstanding — its own entry stays until it is done, so a message that fails again keeps its place and
 * the ones after it wait behind it.
 */
export function decideHold(
  outstanding: Iterable<string>,
  record: { readonly orderKey: string; readonly letterId: string; readonly redriven: boolean },
): HoldDecision {
  const own = holdEntry(record.orderKey, record.letterId);
  const entries = [...outstanding].sort();
  if (!record.redriven && entries.includes(own)) return { pass: false, alreadyLetter: true };
  const blocking = record.redriven ? entries.filter((e) => e < own) : entries.filter((e) => e !== own);
  const first = blocking[0];
  return first === undefined ? { pass: true } : { pass: false, behind: parseHoldEntry(first) };
}

/** The reason a parked message shows in the dead-letter list. */
export function waitingReason(behind: Pick<HoldEntry, "letterId">): string {
  return `waits behind dead letter ${behind.letterId} of its conversation (redrive or delete that one)`;
}
