import type { SQSRecord } from "aws-lambda";
import { decideHold, type HoldDecision, holdEntry } from "./domain/conversation-hold.ts";
import type { DeadLetterStore } from "./ports/dead-letters.ts";

/**
 * Message attributes a redrive puts on a dead letter it sends back: its order key and letter id, so the
 * worker knows it is a redriven message and where in its conversation it belongs.
 */
export const REDRIVE_ATTRIBUTES = { orderKey: "deadLetterOrderKey", letterId: "deadLetterId" } as const;

/** Where a record stands in its message group: its order key and the dead-letter id it has or would get. */
export interface RecordPlace {
  readonly group: string;
  readonly orderKey: string;
  readonly letterId: string;
  readonly redriven: boolean;
}

export function placeOf(record: SQSRecord): RecordPlace | undefined {
  const group = record.attributes.MessageGroupId;
  const attribute = (name: string) => record.messageAttributes?.[name]?.stringValue;
  const keptKey = attribute(REDRIVE_ATTRIBUTES.orderKey);
  const orderKey = keptKey ?? record.attributes.SequenceNumber;
  if (!group || !orderKey || !/^\d{1,39}$/.test(orderKey)) return undefined;
  return {
    group,
    orderKey,
    letterId: (keptKey && attribute(REDRIVE_ATTRIBUTES.letterId)) || record.messageId,
    redriven: keptKey !== undefined,
  };
}

/**
 * A warm worker's view of its queue's held groups: one small item read at most once per `cacheMs`, so a
 * conversation that is not held costs no read per message. Safe because a worker that holds a group
 * keeps its batch — and so the group — in flight for `cacheMs` after recording the hold (`HoldsInBatch
 * .settle`): by the time any worker can take the group's next message, every list still in use was read
 * after the hold was written. Reads are strongly consistent.
 */
export interface HoldGate {
  readonly queue: string;
  readonly store: DeadLetterStore;
  readonly cacheMs: number;
  heldGroups(): Promise<ReadonlySet<string>>;
  /** A group this worker just held: known at once, whatever the cached list says. */
  noteHeld(group: string): void;
}

export function makeHoldGate(store: DeadLetterStore, queue: string, cacheSeconds: number): HoldGate {
  let cached: { groups: Set<string>; readAt: number } | undefined;
  const cacheMs = cacheSeconds * 1000;
  return {
    queue,
    store,
    cacheMs,
    async heldGroups() {
      // The time the read is sent, not answered: the list is known to be at least that fresh.
      const readAt = performance.now();
      if (cached && readAt - cached.readAt < cacheMs) return cached.groups;
      cached = { groups: await store.heldGroups(queue), readAt };
      return cached.groups;
    },
    noteHeld(group) {
      cached?.groups.add(group);
    },
  };
}

/**
 * One batch's dealings with holds. A group's hold is read once per batch (only for a listed group, or a
 * redriven record) and then kept here as the batch changes it: the batch owns the group while it runs
 * (FIFO), and runs its records in order, so a redriven record that passed no longer blocks the ones
 * after it, and one that gave up blocks them at once.
 */
export class HoldsInBatch {
  readonly #gate: HoldGate;
  readonly #outstanding = new Map<string, Promise<Set<string>>>();
  /**
   * The first record per group that gave up in this batch: a later one of the group already under way
   * (handed off behind it) when it gave up waits behind it.
   */
  readonly #heldHere = new Map<string, { orderKey: string; letterId: string }>();
  #heldAt: number | undefined;

  constructor(gate: HoldGate) {
    this.#gate = gate;
  }

  async decide(place: RecordPlace): Promise<HoldDecision> {
    const entries = await this.#entriesOf(place);
    const decision = decideHold(entries, place);
    if (decision.pass && place.redriven) {
      // Its letter is there and not being redriven: this is the copy that failed again and was recorded,
      // back because its batch was cut off before it was deleted.
      const letter = await this.#gate.store.get(place.letterId);
      if (letter && !letter.redriving) return { pass: false, alreadyLetter: true };
      entries.delete(holdEntry(place.orderKey, place.letterId));
    }
    return decision;
  }

  /** Whether a record of the group gave up in this batch, and which. */
  heldHere(group: string): { orderKey: string; letterId: string } | undefined {
    return this.#heldHere.get(group);
  }

  /** A letter of the group was recorded with its hold entry: the batch's view and the gate learn it. */
  async held(place: RecordPlace, { gaveUp }: { gaveUp: boolean }): Promise<void> {
    (await this.#entriesOf(place)).add(holdEntry(place.orderKey, place.letterId));
    if (gaveUp && !this.#heldHere.has(place.group))
      this.#heldHere.set(place.group, { orderKey: place.orderKey, letterId: place.letterId });
    this.#gate.noteHeld(place.group);
    this.#heldAt = performance.now();
  }

  /** A redriven record is done: its entry leaves the hold (and the group the list once nothing is left). */
  async done(place: RecordPlace): Promise<void> {
    if (!place.redriven) return;
    await this.#gate.store.release(this.#gate.queue, place.group, holdEntry(place.orderKey, place.letterId));
  }

  /**
   * Waits until every list other workers may still trust was read after this batch's last hold, or
   * for `atMostMs` if that comes first; resolves with what was left of the wait (0: done).
   */
  async settle(atMostMs = Number.POSITIVE_INFINITY): Promise<number> {
    if (this.#heldAt === undefined) return 0;
    const until = this.#heldAt + this.#gate.cacheMs;
    const stopAt = performance.now() + Math.max(0, atMostMs);
    // A timer may fire a fraction of a millisecond early: waited again until the time has really passed.
    for (;;) {
      const now = performance.now();
      if (now >= until) return 0;
      if (now >= stopAt) return until - now;
      await new Promise((r) => setTimeout(r, Math.ceil(Math.min(until, stopAt) - now)));
    }
  }

  #entriesOf(place: RecordPlace): Promise<Set<string>> {
    let entries = this.#outstanding.get(place.group);
    if (!entries) {
      entries = this.#gate
        .heldGroups()
        .then((groups) =>
          groups.has(place.group) || place.redriven
            ? this.#gate.store.holdOf(this.#gate.queue, place.group)
            : new Set<string>(),
        );
      this.#outstanding.set(place.group, entries);
      // A failed read is tried again by the group's next record (which the batch then fails, in order).
      entries.catch(() => this.#outstanding.delete(place.group));
    }
    return entries;
  }
}
