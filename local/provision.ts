import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  UpdateTimeToLiveCommand,
} from "@aws-sdk/client-dynamodb";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  SetQueueAttributesCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { createTableInput } from "#shared/adapters/dynamodb/table.ts";
import { type QueueDef, queues, table } from "#shared/resources.ts";

export interface ProvisionOptions {
  readonly dynamoEndpoint: string;
  readonly awsEndpoint: string;
  /** Prefix for every name, so several stacks (parallel test files) share one pair of emulators. */
  readonly prefix: string;
  /** Shorter visibility timeout than production, so failed records come back in test time. */
  readonly visibilityTimeoutSeconds?: number;
  /** Fewer receives before the dead-letter queue than production, so a test can run out of them. */
  readonly maxReceiveCount?: number;
}

export interface ProvisionedQueue {
  readonly def: QueueDef;
  readonly url: string;
  readonly arn: string;
  readonly dlqUrl: string;
  readonly visibilityTimeoutSeconds: number;
}

export interface Provisioned {
  readonly tableName: string;
  readonly bucketName: string;
  readonly queues: ProvisionedQueue[];
}

const credentials = { accessKeyId: "local", secretAccessKey: "local" };
const region = "us-east-1";

/** Creates (idempotently) the same table, FIFO queues with DLQs and bucket that infra/ deploys. */
export async function provision(options: ProvisionOptions): Promise<Provisioned> {
  const dynamo = new DynamoDBClient({ endpoint: options.dynamoEndpoint, region, credentials });
  const sqs = new SQSClient({ endpoint: options.awsEndpoint, region, credentials });
  const s3 = new S3Client({ endpoint: options.awsEndpoint, region, credentials, forcePathStyle: true });
  try {
    const tableName = `${options.prefix}table`;
    await ensureTable(dynamo, tableName);
    const bucketName = `${options.prefix}media`.toLowerCase();
    await s3.send(new CreateBucketCommand({ Bucket: bucketName }));
    const created: ProvisionedQueue[] = [];
    for (const def of queues) created.push(await ensureQueue(sqs, def, options));
    return { tableName, bucketName, queues: created };
  } finally {
    dynamo.destroy();
    sqs.destroy();
    s3.destroy();
  }
}

async function ensureTable(dynamo: DynamoDBClient, tableName: string): Promise<void> {
  try {
    await dynamo.send(new DescribeTableCommand({ TableName: tableName }));
    return;
  } catch (error) {
    if ((error as Error).name !== "ResourceNotFoundException") throw error;
  }
  await dynamo.send(new CreateTableCommand(createTableInput(tableName)));
  await dynamo.send(
    new UpdateTimeToLiveCommand({
      TableName: tableName,
      TimeToLiveSpecification: { AttributeName: table.ttlAttribute, Enabled: true },
    }),
  );
}

async function ensureQueue(
  sqs: SQSClient,
  def: QueueDef,
  options: ProvisionOptions,
): Promise<ProvisionedQueue> {
  const dlq = await sqs.send(
    new CreateQueueCommand({
      QueueName: `${options.prefix}${def.name}-dlq.fifo`,
      Attributes: { FifoQueue: "true", MessageRetentionPeriod: String(14 * 86_400) },
    }),
  );
  const dlqUrl = dlq.QueueUrl ?? "";
  const dlqArn = await queueArn(sqs, dlqUrl);
  const visibilityTimeoutSeconds = options.visibilityTimeoutSeconds ?? def.visibilityTimeoutSeconds;
  const url = await createOrUpdateQueue(sqs, `${options.prefix}${def.name}.fifo`, {
    VisibilityTimeout: String(visibilityTimeoutSeconds),
    RedrivePolicy: JSON.stringify({
      deadLetterTargetArn: dlqArn,
      maxReceiveCount: options.maxReceiveCount ?? def.maxReceiveCount,
    }),
  });
  return { def, url, arn: await queueArn(sqs, url), dlqUrl, visibilityTimeoutSeconds };
}

/**
 * A FIFO queue with these attributes. `.local/` data from a run with other settings (an older visibility
 * timeout, say) holds the queue already, and SQS refuses to create it again with different values: it is
 * updated in place, as a deploy would, with its messages kept.
 */
async function createOrUpdateQueue(
  sqs: SQSClient,
  name: string,
  attributes: Record<string, string>,
): Promise<string> {
  try {
    const out = await sqs.send(
      new CreateQueueCommand({ QueueName: name, Attributes: { FifoQueue: "true", ...attributes } }),
    );
    return out.QueueUrl ?? "";
  } catch (error) {
    // Named `QueueAlreadyExists` or `…QueueNameExists` depending on the SDK and the emulator.
    if (!/Queue(Name|Already)Exists$/.test((error as Error).name)) throw error;
    const { QueueUrl = "" } = await sqs.send(new GetQueueUrlCommand({ QueueName: name }));
    await sqs.send(new SetQueueAttributesCommand({ QueueUrl, Attributes: attributes }));
    return QueueUrl;
  }
}

async function queueArn(sqs: SQSClient, url: string): Promise<string> {
  const out = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["QueueArn"] }));
  return out.Attributes?.QueueArn ?? "";
}
