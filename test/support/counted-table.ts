import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { makeDocumentClient } from "#shared/adapters/dynamodb/store.ts";
import { TableClient } from "#shared/adapters/dynamodb/table-client.ts";
import { SecretBox } from "#shared/adapters/secret-box.ts";
import type { Clock } from "#shared/ports/clock.ts";

const box = new SecretBox("cached-store-test-key-0123456789abcdef");

/** A client of the test stack's table (DynamoDB Local). */
export function tableClient(): TableClient {
  return new TableClient(makeDocumentClient(new DynamoDBClient({})), String(process.env.TABLE_NAME), box);
}

/** A table client that counts the requests of one command: what a cache saves is reads. */
export function countingClient(commandName: string): { tableClient: TableClient; reads: () => number } {
  let reads = 0;
  const db = makeDocumentClient(new DynamoDBClient({}));
  db.middlewareStack.add(
    (next, context) => (args) => {
      if (context.commandName === commandName) reads++;
      return next(args);
    },
    { step: "finalizeRequest", priority: "low", name: "countReads" },
  );
  return { tableClient: new TableClient(db, String(process.env.TABLE_NAME), box), reads: () => reads };
}

/** A clock that moves only when told. */
export function clockAt(startMs: number): Clock & { advance(ms: number): void } {
  let now = startMs;
  return {
    now: () => new Date(now),
    advance: (ms) => {
      now += ms;
    },
  };
}
