import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoBitrixStore } from "./adapters/dynamodb/bitrix-store.ts";
import { DynamoConversationStore } from "./adapters/dynamodb/conversation-store.ts";
import { DynamoDeadLetterStore } from "./adapters/dynamodb/dead-letter-store.ts";
import { DynamoMetaStatusStore } from "./adapters/dynamodb/meta-status-store.ts";
import { DynamoStore, makeDocumentClient } from "./adapters/dynamodb/store.ts";
import { TableClient } from "./adapters/dynamodb/table-client.ts";
import { SecretBox } from "./adapters/secret-box.ts";
import { loadSecrets, type Secrets } from "./adapters/secrets.ts";
import { type Config, loadConfig } from "./config.ts";

export interface Runtime {
  readonly config: Config;
  readonly secrets: Secrets;
  readonly store: DynamoStore;
  readonly bitrixStore: DynamoBitrixStore;
  readonly deadLetters: DynamoDeadLetterStore;
  readonly conversations: DynamoConversationStore;
  readonly metaStatus: DynamoMetaStatusStore;
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

export const getRuntime = lazy(async (): Promise<Runtime> => {
  const config = loadConfig();
  const secrets = await loadSecrets(config);
  const tableClient = new TableClient(
    makeDocumentClient(new DynamoDBClient({})),
    config.TABLE_NAME,
    new SecretBox(secrets.encryptionKey),
  );
  return {
    config,
    secrets,
    store: new DynamoStore(tableClient),
    bitrixStore: new DynamoBitrixStore(tableClient),
    deadLetters: new DynamoDeadLetterStore(tableClient),
    conversations: new DynamoConversationStore(tableClient),
    metaStatus: new DynamoMetaStatusStore(tableClient),
    tableClient,
  };
});
