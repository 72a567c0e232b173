import type { TableV2 } from "aws-cdk-lib/aws-dynamodb";
import { PolicyStatement } from "aws-cdk-lib/aws-iam";
import type { IFunction } from "aws-cdk-lib/aws-lambda";
import type { IBucket } from "aws-cdk-lib/aws-s3";
import { table as tableDef } from "../shared/resources.ts";
import type { BucketAccess, TableAccess } from "./grants.ts";

export { type BucketAccess, bucketAccess, type TableAccess, tableAccess } from "./grants.ts";

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
  if (access.narrow) {
    fn.addToRolePolicy(
      new PolicyStatement({
        actions: [...access.narrow.actions],
        resources: [table.tableArn],
        conditions: { "ForAllValues:StringLike": { "dynamodb:LeadingKeys": [...access.narrow.leadingKeys] } },
      }),
    );
  }
}

export function grantBucketAccess(bucket: IBucket, fn: IFunction, access: BucketAccess): void {
  fn.addToRolePolicy(
    new PolicyStatement({
      actions: [...access.actions],
      resources: [bucket.arnForObjects(`${access.keyPrefix}*`)],
    }),
  );
}
