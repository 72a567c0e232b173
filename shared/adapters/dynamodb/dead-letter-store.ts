import type { DeadLetter, DeadLetterStore } from "../../ports/dead-letters.ts";
import type { Page } from "../../ports/store.ts";
import type { Item, TableClient } from "./table-client.ts";

const TYPE = "dead";

const key = (id: string) => ({ pk: `DEAD#${id}`, sk: "DEAD" });

/**
 * Dead letters, one item each, listed newest first through gsi1 (`gsi1sk = <failedAt>#<id>`). No TTL:
 * a dead letter stays until an admin redrives it. Recording the same id again replaces the item, so a
 * dead-letter-queue message recorded twice (its delete failed) is still one dead letter.
 */
export class DynamoDeadLetterStore implements DeadLetterStore {
  readonly #t: TableClient;

  constructor(tableClient: TableClient) {
    this.#t = tableClient;
  }

  async record(letter: DeadLetter): Promise<void> {
    await this.#t.put({
      ...key(letter.id),
      gsi1pk: `TYPE#${TYPE}`,
      gsi1sk: `${letter.failedAt}#${letter.id}`,
      ...letter,
    });
  }

  async list(cursor?: string, limit = 50): Promise<Page<DeadLetter>> {
    const page = await this.#t.listType(TYPE, cursor, limit, { scanIndexForward: false });
    return { items: page.items.map(toDeadLetter), nextCursor: page.nextCursor };
  }

  async get(id: string): Promise<DeadLetter | undefined> {
    const item = await this.#t.get(key(id));
    return item && toDeadLetter(item);
  }

  async remove(id: string): Promise<void> {
    await this.#t.delete(key(id));
  }
}

function toDeadLetter(item: Item): DeadLetter {
  return {
    id: String(item.id),
    queue: String(item.queue),
    body: String(item.body),
    ...(item.messageGroupId === undefined ? {} : { messageGroupId: String(item.messageGroupId) }),
    reason: String(item.reason),
    attempts: Number(item.attempts),
    failedAt: String(item.failedAt),
    source: item.source === "dlq" ? "dlq" : "worker",
  };
}
