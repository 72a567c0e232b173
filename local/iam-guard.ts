import { AsyncLocalStorage } from "node:async_hooks";
import { DynamoDBServiceException } from "@aws-sdk/client-dynamodb";
import { S3ServiceException } from "@aws-sdk/client-s3";
import {
  type AwsService,
  type HookableClient,
  onAwsClientCreated,
} from "#shared/adapters/aws-client-hooks.ts";
import { type FunctionName, table } from "#shared/resources.ts";
import { bucketAccess, tableAccess } from "../infra/grants.ts";

/**
 * IAM as AWS applies it, locally: every function of the local stack runs in one process with full
 * rights to the emulators, so a call its grants (infra/grants.ts, what the CDK stack grants) do not
 * allow is refused here with the error the SDK call would throw in AWS. Only the local stack loads this.
 *
 * Sources for the rules: https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazondynamodb.html
 * (TransactWriteItems is authorized per item as PutItem/UpdateItem/DeleteItem/ConditionCheckItem),
 * https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/specifying-conditions.html
 * (dynamodb:LeadingKeys under ForAllValues:StringLike), and
 * https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpuAndPermissions.html (the multipart calls need
 * s3:PutObject, aborting one s3:AbortMultipartUpload).
 */

/** The function on whose behalf the current call runs, and the stack's resources it was granted. */
export interface Caller {
  readonly fn: FunctionName;
  readonly tableName: string;
  readonly bucketName: string;
  /** Where a refusal is written (the stack's log), so one the code swallows is still seen. */
  readonly log?: (line: string) => void;
}

const current = new AsyncLocalStorage<Caller>();
let installed = false;

/** Runs a function's invocation as that function: its AWS calls are held to its grants. */
export function runAs<T>(caller: Caller, invoke: () => T): T {
  return current.run(caller, invoke);
}

/** Adds the check to every DynamoDB and S3 client created from now on (once per process). */
export function installIamGuard(): void {
  if (installed) return;
  installed = true;
  onAwsClientCreated(addGuard);
}

/** One IAM authorization a request needs: the action on the resource, with the partition keys it touches. */
export interface Authorization {
  readonly action: string;
  readonly resource: string;
  readonly leadingKeys?: readonly string[];
}

/** Why the caller may not make the call (in AWS's words), or undefined when its grants allow it. */
export function refusal(
  caller: Caller,
  service: AwsService,
  command: string,
  input: unknown,
): string | undefined {
  const needed =
    service === "dynamodb" ? dynamoAuthorizations(command, input) : s3Authorizations(command, input);
  for (const auth of needed) {
    if (!allowed(caller, service, auth))
      return (
        `User: arn:aws:sts::000000000000:assumed-role/${caller.fn}-role/${caller.fn} is not authorized to ` +
        `perform: ${auth.action} on resource: ${auth.resource} because no identity-based policy allows the ` +
        `${auth.action} action`
      );
  }
  return undefined;
}

function allowed(caller: Caller, service: AwsService, auth: Authorization): boolean {
  if (service === "dynamodb") {
    const grant = tableAccess[caller.fn];
    const tableArn = dynamoTableArn(caller.tableName);
    const resources = [tableArn, ...(grant.index ? [`${tableArn}/index/${table.gsi1.indexName}`] : [])];
    // Either statement may allow it: the main one, or the narrow one on the table alone.
    return (
      statementAllows(grant.actions, resources, grant.leadingKeys, auth) ||
      (grant.narrow !== undefined &&
        statementAllows(grant.narrow.actions, [tableArn], grant.narrow.leadingKeys, auth))
    );
  }
  const grant = bucketAccess[caller.fn];
  if (!grant?.actions.includes(auth.action)) return false;
  const objects = `arn:aws:s3:::${caller.bucketName}/${grant.keyPrefix}`;
  return auth.resource.startsWith(objects);
}

function statementAllows(
  actions: readonly string[],
  resources: readonly string[],
  patterns: readonly string[] | undefined,
  auth: Authorization,
): boolean {
  if (!actions.includes(auth.action) || !resources.includes(auth.resource)) return false;
  // ForAllValues: every key the request touches matches a pattern (a request naming none passes).
  return !patterns || (auth.leadingKeys ?? []).every((key) => patterns.some((p) => stringLike(p, key)));
}

/** IAM's StringLike: `*` any run of characters, `?` any one. */
function stringLike(pattern: string, value: string): boolean {
  const re = pattern
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*/g, ".*")
    .replace(/\?/g, ".");
  return new RegExp(`^${re}$`, "s").test(value);
}

function dynamoTableArn(name: string): string {
  return `arn:aws:dynamodb:us-east-1:000000000000:table/${name}`;
}

type Attr = { S?: string } | string | undefined;
type Req = {
  TableName?: string;
  IndexName?: string;
  Key?: Record<string, Attr>;
  Item?: Record<string, Attr>;
  KeyConditionExpression?: string;
  ExpressionAttributeNames?: Record<string, string>;
  ExpressionAttributeValues?: Record<string, Attr>;
};

/** The string a key attribute holds, marshalled ({S}) or not (as the document client passes it). */
function text(attr: Attr): string | undefined {
  return typeof attr === "string" ? attr : attr?.S;
}

function dynamoAuthorizations(command: string, input: unknown): Authorization[] {
  const name = command.replace(/Command$/, "");
  const req = (input ?? {}) as Req & { TransactItems?: Record<string, Req>[] };
  const one = (action: string, r: Req, key?: string): Authorization => ({
    action: `dynamodb:${action}`,
    resource: dynamoTableArn(r.TableName ?? ""),
    leadingKeys: key === undefined ? [] : [key],
  });
  switch (name) {
    case "GetItem":
    case "UpdateItem":
    case "DeleteItem":
      return [one(name, req, text(req.Key?.[table.partitionKey]))];
    case "PutItem":
      return [one(name, req, text(req.Item?.[table.partitionKey]))];
    case "Query": {
      const resource = req.IndexName
        ? `${dynamoTableArn(req.TableName ?? "")}/index/${req.IndexName}`
        : dynamoTableArn(req.TableName ?? "");
      const key = req.IndexName ? table.gsi1.partitionKey : table.partitionKey;
      return [{ action: "dynamodb:Query", resource, leadingKeys: queryKeys(req, key) }];
    }
    case "TransactWriteItems": {
      const actions: Record<string, string> = {
        Put: "PutItem",
        Update: "UpdateItem",
        Delete: "DeleteItem",
        ConditionCheck: "ConditionCheckItem",
      };
      return (req.TransactItems ?? []).flatMap((item) =>
        Object.entries(item).map(([kind, r]) =>
          one(actions[kind] ?? kind, r, text((r.Key ?? r.Item)?.[table.partitionKey])),
        ),
      );
    }
    case "BatchGetItem":
    case "BatchWriteItem": {
      // One authorization per table, naming the partition key of every item it reads or writes.
      const tables = (req as { RequestItems?: Record<string, unknown> }).RequestItems ?? {};
      return Object.entries(tables).map(([TableName, items]) => {
        const requests = name === "BatchGetItem" ? ((items as Req & { Keys?: Req["Key"][] }).Keys ?? []) : [];
        const writes =
          name === "BatchWriteItem" ? ((items as { PutRequest?: Req; DeleteRequest?: Req }[]) ?? []) : [];
        const keys = [
          ...requests.map((k) => text(k?.[table.partitionKey])),
          ...writes.map((w) => text((w.PutRequest?.Item ?? w.DeleteRequest?.Key)?.[table.partitionKey])),
        ].filter((k): k is string => k !== undefined);
        return { action: `dynamodb:${name}`, resource: dynamoTableArn(TableName), leadingKeys: keys };
      });
    }
    default:
      // Scans, table management: granted to no function.
      return [one(name, req)];
  }
}

/** The partition-key values a key condition names (`pk = :v`, also through an attribute name). */
function queryKeys(req: Req, attribute: string): string[] {
  const names = req.ExpressionAttributeNames ?? {};
  const keys: string[] = [];
  for (const m of (req.KeyConditionExpression ?? "").matchAll(/([#\w]+)\s*=\s*(:\w+)/g)) {
    const lhs = m[1] ?? "";
    if ((names[lhs] ?? lhs) !== attribute) continue;
    const value = text(req.ExpressionAttributeValues?.[m[2] ?? ""]);
    if (value !== undefined) keys.push(value);
  }
  return keys;
}

function s3Authorizations(command: string, input: unknown): Authorization[] {
  const name = command.replace(/Command$/, "");
  const { Bucket = "", Key } = (input ?? {}) as { Bucket?: string; Key?: string };
  const actions: Record<string, string> = {
    PutObject: "s3:PutObject",
    CreateMultipartUpload: "s3:PutObject",
    UploadPart: "s3:PutObject",
    CompleteMultipartUpload: "s3:PutObject",
    GetObject: "s3:GetObject",
    HeadObject: "s3:GetObject",
    AbortMultipartUpload: "s3:AbortMultipartUpload",
  };
  const resource = Key === undefined ? `arn:aws:s3:::${Bucket}` : `arn:aws:s3:::${Bucket}/${Key}`;
  return [{ action: actions[name] ?? `s3:${name}`, resource }];
}

function addGuard(client: HookableClient, service: AwsService): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const caller = current.getStore();
      const reason = caller && refusal(caller, service, context.commandName ?? "", args.input);
      if (caller && reason) {
        caller.log?.(`iam: ${caller.fn} refused ${context.commandName}: ${reason}`);
        throw accessDenied(service, reason);
      }
      return next(args);
    },
    // After the document client's marshalling (serialize), before signing and sending (and presigning).
    { step: "build", priority: "high", name: "localIamGuard" },
  );
}

/** The error the SDK throws for a refused call: AccessDeniedException (DynamoDB, 400), AccessDenied (S3, 403). */
function accessDenied(service: AwsService, message: string): Error {
  const $metadata = { httpStatusCode: service === "dynamodb" ? 400 : 403 };
  return service === "dynamodb"
    ? new DynamoDBServiceException({ name: "AccessDeniedException", $fault: "client", $metadata, message })
    : new S3ServiceException({ name: "AccessDenied", $fault: "client", $metadata, message });
}
