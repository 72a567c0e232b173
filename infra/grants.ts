import { CLAIM_KEY_PREFIX } from "../shared/claim-check.ts";
import type { FunctionName } from "../shared/resources.ts";

/**
 * What each function may do to the table and the media bucket: the CDK stack grants exactly this, and
 * the local stack refuses every call outside it, so a test run finds a missing grant before AWS does.
 * Plain data, so the local stack reads it without loading aws-cdk-lib.
 */

/**
 * What each function may do to the table. Nothing scans (every read is by key or by gsi1's entity type);
 * only the workers batch, to read and write a customer's aliases (phone and BSUID) together.
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
  /** A second, narrower statement: these actions only on items under these partition-key prefixes. */
  readonly narrow?: { readonly actions: readonly string[]; readonly leadingKeys: readonly string[] };
}

const readWrite = [
  "dynamodb:GetItem",
  "dynamodb:Query",
  "dynamodb:PutItem",
  "dynamodb:UpdateItem",
  "dynamodb:DeleteItem",
] as const;

/** A customer's aliases (phone and BSUID) are read and written together (shared/adapters/dynamodb/customer-store.ts). */
const aliasBatches = ["dynamodb:BatchGetItem", "dynamodb:BatchWriteItem"] as const;

export const tableAccess: Record<FunctionName, TableAccess> = {
  // Public and unauthenticated until the signature is checked: it reads the app (by id, host or verify
  // token) and the WABAs and numbers that app owns, and writes only the count of a signed webhook for a
  // number of the app's own WABA that nobody set up (GET /api/admin/unrouted).
  "waba-webhook": {
    actions: ["dynamodb:GetItem", "dynamodb:Query"],
    index: false,
    leadingKeys: ["APP#*", "DOMAIN#*", "VERIFY#*", "WABA#*", "PHONE#*"],
    narrow: { actions: ["dynamodb:UpdateItem"], leadingKeys: ["UNROUTED#*"] },
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
  "inbound-worker": { actions: [...readWrite, ...aliasBatches], index: true },
  "outbound-worker": { actions: [...readWrite, ...aliasBatches], index: true },
};

/** Object rights in the media bucket: `actions` on the keys starting with `keyPrefix` ("" for all). */
export interface BucketAccess {
  readonly actions: readonly string[];
  readonly keyPrefix: string;
}

export const bucketAccess: Partial<Record<FunctionName, BucketAccess>> = {
  // Claim check: the webhook stores events too large for SQS under claims/, and writes nothing else.
  "waba-webhook": { actions: ["s3:PutObject"], keyPrefix: CLAIM_KEY_PREFIX },
  // Media: objects written and presigned for Bitrix24 to fetch (and claims read); nothing is listed or deleted.
  // A download that fails midway aborts its multipart upload, which s3:PutObject does not cover.
  "inbound-worker": { actions: ["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"], keyPrefix: "" },
};
