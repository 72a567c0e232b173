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
}

export interface DeadLetterStore {
  record(letter: DeadLetter): Promise<void>;
  list(cursor?: string, limit?: number): Promise<Page<DeadLetter>>;
  get(id: string): Promise<DeadLetter | undefined>;
  remove(id: string): Promise<void>;
}
