import type { Page } from "./store.ts";

/** Work that could not be done, kept with the reason until an admin redrives or deletes it. */
export interface DeadLetter {
  readonly id: string;
  /** Logical queue name from shared/resources.ts (`inbound`, …): where a redrive sends it back. */
  readonly queue: string;
  /** The queue message body, as it was. */
  readonly body: string;
  readonly messageGroupId?: string;
  readonly reason: string;
  /** Receives before it was given up. */
  readonly attempts: number;
  readonly failedAt: string;
  /** `worker`: a worker gave up with a reason; `dlq`: SQS moved it after max receives (crash, timeout). */
  readonly source: "worker" | "dlq";
  /**
   * The SQS sequence number the message first had (kept across redrives): its place in its message
   * group. Letters recorded before order keys existed have none.
   */
  readonly orderKey?: string;
  /** Parked, not failed: the id of the dead letter of its conversation it waits behind. */
  readonly waitingBehind?: string;
  /** Being sent back by a redrive: the message the worker gets is the redriven one, not this letter's. */
  readonly redriving?: true;
}

export interface DeadLetterStore {
  /**
   * Records a letter that holds nothing (one SQS moved to a dead-letter queue), unless one of that id is
   * there already (a worker's, which it would lose the reason and place of).
   */
  record(letter: DeadLetter): Promise<void>;
  /**
   * Records a letter and adds it to its message group's hold in one transaction (the group is then
   * listed among its queue's held groups): the group's later messages wait behind it.
   */
  hold(letter: DeadLetter & { readonly messageGroupId: string; readonly orderKey: string }): Promise<void>;
  list(cursor?: string, limit?: number): Promise<Page<DeadLetter>>;
  get(id: string): Promise<DeadLetter | undefined>;
  /** Marks the letter as being sent back (before the send). False when it is gone. */
  markRedriving(id: string): Promise<boolean>;
  /**
   * Forgets a letter that was sent back, unless it was recorded again meanwhile (the redriven message
   * already failed again); its hold entry stays until the redriven message is done (see `release`).
   */
  remove(id: string): Promise<void>;
  /** Forgets the letter and its hold entry in one transaction (admin delete). */
  discard(letter: DeadLetter): Promise<void>;
  /** The message groups of a queue that are held (one small item). */
  heldGroups(queue: string): Promise<Set<string>>;
  /** A held group's outstanding entries (`<order key>#<letter id>`), read strongly consistent. */
  holdOf(queue: string, group: string): Promise<Set<string>>;
  /** Takes an entry out of a group's hold; the group is unlisted once nothing is left. */
  release(queue: string, group: string, entry: string): Promise<void>;
}
