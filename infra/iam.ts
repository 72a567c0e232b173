import type { TableV2 } from "aws-cdk-lib/aws-dynamodb";
import { PolicyStatement } from "aws-cdk-lib/aws-iam";
import type { IFunction } from "aws-cdk-lib/aws-lambda";
import { type FunctionName, table as tableDef } from "../shared/resources.ts";

/**
 * What each function may do to the table. Nothing scans (every read is by key or by gsi1's entity type),
 * nothing batch-writes, so neither is granted to anyone.
 */
export interface TableAccess {
  readonly actions: readonly string[];
  /** Reads gsi1 (entity listings by type). */
  readonly index: boolean;
  /**
   * `dynamodb:LeadingKeys`: the partition-key prefixes the function may touch. Only where a function's
   * keys are few and known; a GSI query names no table partition key, so `index` functions get none.
   */
  readonly leadingKeys?: readonly string[];
}

const readWrite = [
  "dynamodb:GetItem",
  "dynamodb:Query",
  "dynamodb:PutItem",
  "dynamodb:UpdateItem",
  "dynamodb:DeleteItem",
] as const;

export const tableAccess: Record<FunctionName, TableAccess> = {
  // Public and unauthenticated until the signature is checked: it reads the app (by id, host or verify
  // token) and the WABAs and numbers that app owns, and writes nothing.
  "waba-webhook": {
    actions: ["dynamodb:GetItem", "dynamodb:Query"],
    index: false,
    leadingKeys: ["APP#*", "DOMAIN#*", "VERIFY#*", "WABA#*", "PHONE#*"],
  },
  "admin-api": { actions: readWrite, index: true },
  "bitrix-events": { actions: readWrite, index: true },
  "bitrix-sms": { actions: readWrite, index: true },
  "bitrix-app": { actions: readWrite, index: true },
  // Reads the number and its WABA and app (for Meta's token), writes only the number's calling settings.
  "calling-api": {
    actions: ["dynamodb:GetItem", "dynamodb:UpdateItem"],
    index: false,
    leadingKeys: ["PHONE#*", "WABA#*", "APP#*"],
  },
  "inbound-worker": { actions: readWrite, index: true },
  "outbound-worker": { actions: readWrite, index: true },
};

export function grantTableAccess(table: TableV2, fn: IFunction, access: TableAccess): void {
  fn.addToRolePolicy(
    new PolicyStatement({
      actions: [...access.actions],
      resources: [
        table.tableArn,
        ...(access.index ? [`${table.tableArn}/index/${tableDef.gsi1.indexName}`] : []),
      ],
      ...(access.leadingKeys
        ? { conditions: { "ForAllValues:StringLike": { "dynamodb:LeadingKeys": [...access.leadingKeys] } } }
        : {}),
    }),
  );
}
