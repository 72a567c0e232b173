import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { hooked } from "./adapters/aws-client-hooks.ts";
import { DynamoAccountEventStore } from "./adapters/dynamodb/account-event-store.ts";
import { DynamoBitrixStore } from "./adapters/dynamodb/bitrix-store.ts";
import { CachedBitrixStore, WORKER_RECORD_TTL_MS } from "./adapters/dynamodb/cached-bitrix-store.ts";
import { DynamoConversationStore } from "./adapters/dynamodb/conversation-store.ts";
import { DynamoCustomerStore } from "./adapters/dynamodb/customer-store.ts";
import { DynamoDeadLetterStore } from "./adapters/dynamodb/dead-letter-store.ts";
import { DynamoHistoryStore } from "./adapters/dynamodb/history-store.ts";
import { DynamoStore, makeDocumentClient } from "./adapters/dynamodb/store.ts";
import { TableClient } from "./adapters/dynamodb/table-client.ts";
import { SecretBox } from "./adapters/secret-box.ts";
import { loadEncryptionKey } from "./adapters/secrets.ts";
import { type Config, loadConfig } from "./config.ts";
import { systemClock } from "./ports/clock.ts";

export interface Runtime {
  readonly config: Config;
  /** The data-encryption key only: the admin token is read by the admin API alone (`loadAdminToken`). */
  readonly secrets: { readonly encryptionKey: string };
  readonly store: DynamoStore;
  readonly bitrixStore: DynamoBitrixStore;
  readonly deadLetters: DynamoDeadLetterStore;
  readonly conversations: DynamoConversationStore;
  readonly customers: DynamoCustomerStore;
  readonly accountEvents: DynamoAccountEventStore;
  readonly history: DynamoHistoryStore;
  readonly tableClient: TableClient;
}

/**
 * A value built once per Lambda container (cold start) and reused by every invocation. A failed build
 * is not kept, so the next invocation tries again.
 */
export function lazy<T>(make: () => Promise<T>): () => Promise<T> {
  let value: Promise<T> | undefined;
  return () => {
    value ??= make().catch((error: unknown) => {
      value = undefined;
      throw error;
    });
    return value;
  };
}

/**
 * The runtime as a queue worker uses it: portals and phones read once per few seconds rather than
 * several times per message (see CachedBitrixStore).
 */
export function forQueueWorker(runtime: Runtime, options: { phones?: boolean } = {}): Runtime {
  return {
    ...runtime,
    bitrixStore: new CachedBitrixStore(runtime.tableClient, systemClock, WORKER_RECORD_TTL_MS, options),
  };
}

export const getRuntime = lazy(async (): Promise<Runtime> => {
  const config = loadConfig();
  const encryptionKey = await loadEncryptionKey(config);
  const tableClient = new TableClient(
    makeDocumentClient(hooked(new DynamoDBClient({}), "dynamodb")),
    config.TABLE_NAME,
    new SecretBox(encryptionKey),
  );
  return {
    config,
    secrets: { encryptionKey },
    store: new DynamoStore(tableClient),
    bitrixStore: new DynamoBitrixStore(tableClient),
    deadLetters: new DynamoDeadLetterStore(tableClient),
    conversations: new DynamoConversationStore(tableClient),
    customers: new DynamoCustomerStore(tableClient),
    accountEvents: new DynamoAccountEventStore(tableClient),
    history: new DynamoHistoryStore(tableClient),
    tableClient,
  };
});
