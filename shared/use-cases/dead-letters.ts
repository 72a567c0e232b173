import { createHash } from "node:crypto";
import {
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import { compareOrderKeys } from "../domain/conversation-hold.ts";
import { NotFoundError } from "../errors.ts";
import type { Clock } from "../ports/clock.ts";
import type { DeadLetter, DeadLetterStore } from "../ports/dead-letters.ts";
import type { Page } from "../ports/store.ts";
import { REDRIVE_ATTRIBUTES } from "../queue-holds.ts";

/** A queue whose dead letters are managed: logical name (shared/resources.ts), its URL and its DLQ's URL. */
export interface DeadLetterQueue {
  readonly name: string;
  readonly url: string;
  readonly dlqUrl: string;
}

export interface RedriveResult {
  readonly redriven: string[];
  readonly failed: { id: string; error: string }[];
}

/** SQS hands out at most ten messages per receive. */
const RECEIVE_MAX = 10;
/** Receives per dead-letter queue and call: up to 100 messages moved into the table each time. */
const DRAIN_ROUNDS = 10;
/** Long enough to record and delete a batch; a message whose recording failed comes back after it. */
const DRAIN_VISIBILITY_SECONDS = 30;
const PAGE = 100;

/** What the admin API shows of a dead letter: the body parsed when it is JSON (`message`), else as text. */
export function toDeadLetterView(letter: DeadLetter) {
  const message = parseJson(letter.body);
  return {
    id: letter.id,
    queue: letter.queue,
    reason: letter.reason,
    attempts: letter.attempts,
    failedAt: letter.failedAt,
    source: letter.source,
    ...(letter.messageGroupId === undefined ? {} : { messageGroupId: letter.messageGroupId }),
    ...(letter.orderKey === undefined ? {} : { orderKey: letter.orderKey }),
    ...(letter.waitingBehind === undefined ? {} : { waitingBehind: letter.waitingBehind }),
    ...(message.ok ? { message: message.value } : { body: letter.body }),
  };
}

/**
 * Dead letters come from two places: workers that give up on a message with a reason record it in the
 * table themselves (`source: "worker"`); messages SQS moved to a dead-letter queue after too many
 * receives (a crash or a timeout: no reason known) are drained into the table here (`source: "dlq"`) —
 * each recorded first and deleted from the DLQ only then, so a failed write loses nothing. Redriving
 * sends a dead letter back to its queue, with its order key and id as message attributes, and then
 * forgets it; its conversation stays held until the worker is through with it (shared/queue-holds.ts).
 * Deleting one forgets it and takes it out of its conversation's hold.
 */
export function makeDeadLetters({
  store,
  sqs,
  queues,
  clock,
}: {
  store: DeadLetterStore;
  sqs: SQSClient;
  queues: readonly DeadLetterQueue[];
  clock: Clock;
}) {
  const byName = new Map(queues.map((q) => [q.name, q]));

  async function drainQueue(queue: DeadLetterQueue): Promise<void> {
    for (let round = 0; round < DRAIN_ROUNDS; round++) {
      const out = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: queue.dlqUrl,
          MaxNumberOfMessages: RECEIVE_MAX,
          WaitTimeSeconds: 0,
          VisibilityTimeout: DRAIN_VISIBILITY_SECONDS,
          MessageSystemAttributeNames: ["All"],
          // A redriven message that SQS moved here keeps its place and id in its conversation.
          MessageAttributeNames: [REDRIVE_ATTRIBUTES.orderKey, REDRIVE_ATTRIBUTES.letterId],
        }),
      );
      const messages = (out.Messages ?? []).filter((m) => m.MessageId && m.ReceiptHandle);
      if (messages.length === 0) return;
      const recorded = await Promise.allSettled(messages.map((m) => recordDrained(queue, m)));
      const done = messages.filter((_, i) => recorded[i]?.status === "fulfilled");
      if (done.length > 0) {
        // A delete that fails leaves the message to be recorded again later: same id, same item.
        await sqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl: queue.dlqUrl,
            Entries: done.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle ?? "" })),
          }),
        );
      }
      const failures = recorded.filter((r) => r.status === "rejected");
      if (failures.length > 0) {
        throw new Error(
          `Could not record ${failures.length} message(s) of ${queue.name}'s dead-letter queue ` +
            `(they stay there): ${errorText(failures[0]?.reason)}`,
        );
      }
    }
  }

  /**
   * A message a worker held before its last attempt (which did not finish) already has its letter, with
   * its place in its conversation: under its message id, which a FIFO dead-letter queue keeps as the
   * moved message's deduplication id.
   */
  async function recordDrained(queue: DeadLetterQueue, m: Message): Promise<void> {
    const letter = fromDlq(queue, m);
    const original = m.Attributes?.MessageDeduplicationId;
    if (original && original !== letter.id && (await store.get(original))) return;
    await store.record(letter);
  }

  function fromDlq(queue: DeadLetterQueue, m: Message): DeadLetter {
    const attrs = m.Attributes ?? {};
    // Our own receive counts too; SQS keeps the count of the receives on the source queue.
    const attempts = Math.max(0, Number(attrs.ApproximateReceiveCount ?? 1) - 1);
    // A FIFO queue's message gets a new enqueue time when SQS moves it to the dead-letter queue.
    const sent = Number(attrs.SentTimestamp);
    const kept = (name: string) => m.MessageAttributes?.[name]?.StringValue;
    const orderKey = kept(REDRIVE_ATTRIBUTES.orderKey);
    const letterId = orderKey && kept(REDRIVE_ATTRIBUTES.letterId);
    return {
      id: letterId || String(m.MessageId),
      queue: queue.name,
      body: m.Body ?? "",
      ...(attrs.MessageGroupId ? { messageGroupId: attrs.MessageGroupId } : {}),
      ...(orderKey ? { orderKey } : {}),
      reason: `moved to the dead-letter queue after ${attempts} receives (the worker crashed or timed out)`,
      attempts,
      failedAt: (Number.isFinite(sent) && sent > 0 ? new Date(sent) : clock.now()).toISOString(),
      source: "dlq",
    };
  }

  async function drain(): Promise<void> {
    for (const queue of queues) await drainQueue(queue);
  }

  async function everyLetter(): Promise<DeadLetter[]> {
    const letters: DeadLetter[] = [];
    let cursor: string | undefined;
    do {
      const page = await store.list(cursor, PAGE);
      letters.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor);
    return letters;
  }

  async function sendBack(letter: DeadLetter, queue: DeadLetterQueue): Promise<void> {
    const fifo = queue.url.endsWith(".fifo");
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: queue.url,
        MessageBody: letter.body,
        ...(fifo
          ? {
              MessageGroupId: letter.messageGroupId ?? sqsId(`redrive:${letter.id}`),
              // A new deduplication id: the original one may still be inside SQS's 5-minute window.
              MessageDeduplicationId: sqsId(`redrive:${letter.id}:${clock.now().getTime()}`),
            }
          : {}),
        ...(letter.orderKey === undefined
          ? {}
          : {
              MessageAttributes: {
                [REDRIVE_ATTRIBUTES.orderKey]: { DataType: "String", StringValue: letter.orderKey },
                [REDRIVE_ATTRIBUTES.letterId]: { DataType: "String", StringValue: letter.id },
              },
            }),
      }),
    );
  }

  return {
    /** Drains the dead-letter queues into the table, then lists the table, newest first. */
    async list(cursor: string | undefined, limit: number): Promise<Page<DeadLetter>> {
      await drain();
      return store.list(cursor, limit);
    },

    /** Forgets a dead letter for good; its conversation is held no longer by it. */
    async discard(id: string): Promise<void> {
      const letter = await store.get(id);
      if (!letter) throw new NotFoundError(`dead letter ${id} not found`);
      await store.discard(letter);
    },

    /**
     * Sends the given dead letters (all of them, the dead-letter queues drained first, when `ids` is
     * omitted) back to their queues, each message group in its order, and removes each once sent. Within
     * a message group a failure stops the group's later letters, so the group's order survives a second
     * redrive.
     */
    async redrive(ids?: readonly string[]): Promise<RedriveResult> {
      const redriven: string[] = [];
      const failed: { id: string; error: string }[] = [];
      let letters: DeadLetter[];
      if (ids === undefined) {
        await drain();
        letters = await everyLetter();
      } else {
        const unique = [...new Set(ids)];
        const found = await Promise.all(unique.map((id) => store.get(id)));
        letters = [];
        unique.forEach((id, i) => {
          const letter = found[i];
          if (letter) letters.push(letter);
          else failed.push({ id, error: "not found" });
        });
      }
      letters = inSendingOrder(letters);

      const stoppedGroups = new Set<string>();
      for (const letter of letters) {
        const group = letter.messageGroupId && `${letter.queue}\n${letter.messageGroupId}`;
        const queue = byName.get(letter.queue);
        if (!queue) {
          failed.push({ id: letter.id, error: `unknown queue ${letter.queue}` });
          continue;
        }
        if (group && stoppedGroups.has(group)) {
          failed.push({
            id: letter.id,
            error: "not sent: an earlier dead letter of its message group could not be sent",
          });
          continue;
        }
        try {
          // Marked first: a worker that meets this letter's own message again (its batch was cut off
          // after recording it) knows it from the redriven one.
          if (!(await store.markRedriving(letter.id))) {
            failed.push({ id: letter.id, error: "not found" });
            continue;
          }
          await sendBack(letter, queue);
        } catch (error) {
          if (group) stoppedGroups.add(group);
          failed.push({ id: letter.id, error: `could not send to ${queue.name}: ${errorText(error)}` });
          continue;
        }
        try {
          await store.remove(letter.id);
        } catch (error) {
          failed.push({
            id: letter.id,
            error: `sent to ${queue.name}, but the dead letter could not be removed: ${errorText(error)}`,
          });
          continue;
        }
        redriven.push(letter.id);
      }
      return { redriven, failed };
    },
  };
}

/**
 * A message group's letters by their order keys — the sequence numbers SQS gave them on their queue,
 * which grow within a group (unlike the failure times, written by different workers' clocks); a group
 * with a letter that has none (recorded before keys were kept) by failure time. Groups oldest first.
 */
export function inSendingOrder(letters: readonly DeadLetter[]): DeadLetter[] {
  const byTime = (a: DeadLetter, b: DeadLetter) =>
    a.failedAt.localeCompare(b.failedAt) || a.id.localeCompare(b.id);
  const groups = new Map<string, DeadLetter[]>();
  for (const letter of [...letters].sort(byTime)) {
    const group =
      letter.messageGroupId === undefined ? `\n${letter.id}` : `${letter.queue}\n${letter.messageGroupId}`;
    groups.set(group, [...(groups.get(group) ?? []), letter]);
  }
  return [...groups.values()].flatMap((group) =>
    group.every((l) => l.orderKey !== undefined)
      ? group.sort((a, b) => compareOrderKeys(a.orderKey ?? "", b.orderKey ?? ""))
      : group,
  );
}

/** SQS group and deduplication ids: at most 128 characters of letters, digits and punctuation. */
function sqsId(value: string): string {
  return /^[\w!"#$%&'()*+,\-./:;<=>?@[\\\]^`{|}~]{1,128}$/.test(value)
    ? value
    : createHash("sha256").update(value).digest("hex");
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
