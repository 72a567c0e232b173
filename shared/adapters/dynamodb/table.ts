import type { CreateTableCommandInput } from "@aws-sdk/client-dynamodb";
import { table } from "../../resources.ts";

/** The table as the local stack and tests create it; infra/ builds the same keys from shared/resources.ts. */
export function createTableInput(tableName: string): CreateTableCommandInput {
  return {
    TableName: tableName,
    BillingMode: "PAY_PER_REQUEST",
    AttributeDefinitions: [
      { AttributeName: table.partitionKey, AttributeType: "S" },
      { AttributeName: table.sortKey, AttributeType: "S" },
      { AttributeName: table.gsi1.partitionKey, AttributeType: "S" },
      { AttributeName: table.gsi1.sortKey, AttributeType: "S" },
    ],
    KeySchema: [
      { AttributeName: table.partitionKey, KeyType: "HASH" },
      { AttributeName: table.sortKey, KeyType: "RANGE" },
    ],
    GlobalSecondaryIndexes: [
      {
        IndexName: table.gsi1.indexName,
        KeySchema: [
          { AttributeName: table.gsi1.partitionKey, KeyType: "HASH" },
          { AttributeName: table.gsi1.sortKey, KeyType: "RANGE" },
        ],
        Projection: { ProjectionType: "ALL" },
      },
    ],
  };
}
