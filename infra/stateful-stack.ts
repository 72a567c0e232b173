import { CustomResource, Duration, RemovalPolicy, Stack, type StackProps } from "aws-cdk-lib";
import { AttributeType, Billing, TableV2 } from "aws-cdk-lib/aws-dynamodb";
import { PolicyStatement } from "aws-cdk-lib/aws-iam";
import { Architecture, Code, Function as LambdaFunction, Runtime } from "aws-cdk-lib/aws-lambda";
import { LogGroup, RetentionDays } from "aws-cdk-lib/aws-logs";
import { BlockPublicAccess, Bucket, BucketEncryption } from "aws-cdk-lib/aws-s3";
import { Secret } from "aws-cdk-lib/aws-secretsmanager";
import { Topic } from "aws-cdk-lib/aws-sns";
import { EmailSubscription } from "aws-cdk-lib/aws-sns-subscriptions";
import { Queue, QueueEncryption } from "aws-cdk-lib/aws-sqs";
import { Provider } from "aws-cdk-lib/custom-resources";
import type { Construct } from "constructs";
import { mediaBucket, type QueueDef, queues, table } from "../shared/resources.ts";

export interface StatefulStackProps extends StackProps {
  /** Where alarm notifications are e-mailed; without it the topic has no subscriber. */
  readonly alarmEmail?: string | undefined;
}

/** A work queue of `shared/resources.ts` with the dead-letter queue its failures end in. */
export interface QueuePair {
  readonly def: QueueDef;
  readonly queue: Queue;
  readonly deadLetterQueue: Queue;
}

/** Lengths of the generated secret values (characters, letters and digits only). */
const adminTokenLength = 48;
const encryptionKeyLength = 64;

/**
 * Fills missing keys of a JSON secret with random strings from `GetRandomPassword`, and never replaces a
 * key that exists: rotating `encryptionKey` would make every encrypted item unreadable.
 * Inline (so nothing to bundle) and on the runtime's AWS SDK, as CDK's own custom resources are.
 */
const ensureGeneratedKeysSource = `
const sm = require("@aws-sdk/client-secrets-manager");
const client = new sm.SecretsManagerClient({});
exports.handler = async (event) => {
  const { SecretId, GeneratedKeys } = event.ResourceProperties;
  const physicalId = SecretId + "#generated-keys";
  if (event.RequestType === "Delete") return { PhysicalResourceId: physicalId };
  const current = await client.send(new sm.GetSecretValueCommand({ SecretId }));
  const value = JSON.parse(current.SecretString || "{}");
  let changed = false;
  for (const [key, length] of Object.entries(GeneratedKeys)) {
    if (typeof value[key] === "string" && value[key].length > 0) continue;
    const random = await client.send(
      new sm.GetRandomPasswordCommand({ PasswordLength: Number(length), ExcludePunctuation: true }),
    );
    value[key] = random.RandomPassword;
    changed = true;
  }
  if (changed) await client.send(new sm.PutSecretValueCommand({ SecretId, SecretString: JSON.stringify(value) }));
  return { PhysicalResourceId: physicalId };
};
`;

/**
 * What outlives a deployment: the table, the queues, the media bucket, the secrets and the alarm topic.
 * Everything holding data is retained when the stack is deleted.
 */
export class StatefulStack extends Stack {
  readonly table: TableV2;
  readonly queues: readonly QueuePair[];
  readonly mediaBucket: Bucket;
  /** JSON secret `{ adminToken, encryptionKey }`, read by every function through `SECRETS_ARN`. */
  readonly secrets: Secret;
  readonly alarmTopic: Topic;

  constructor(scope: Construct, id: string, props: StatefulStackProps = {}) {
    super(scope, id, props);

    this.table = new TableV2(this, "Table", {
      partitionKey: { name: table.partitionKey, type: AttributeType.STRING },
      sortKey: { name: table.sortKey, type: AttributeType.STRING },
      billing: Billing.onDemand(),
      globalSecondaryIndexes: [
        {
          indexName: table.gsi1.indexName,
          partitionKey: { name: table.gsi1.partitionKey, type: AttributeType.STRING },
          sortKey: { name: table.gsi1.sortKey, type: AttributeType.STRING },
        },
      ],
      timeToLiveAttribute: table.ttlAttribute,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.queues = queues.map((def) => {
      const deadLetterQueue = new Queue(this, `${def.name}-dlq`, {
        queueName: `${def.name}-dlq.fifo`,
        fifo: true,
        retentionPeriod: Duration.days(14),
        encryption: QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
      });
      const queue = new Queue(this, def.name, {
        queueName: `${def.name}.fifo`,
        fifo: true,
        // A safety net for producers that send without a deduplication id; an explicit id still wins.
        contentBasedDeduplication: true,
        visibilityTimeout: Duration.seconds(def.visibilityTimeoutSeconds),
        encryption: QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
        deadLetterQueue: { queue: deadLetterQueue, maxReceiveCount: def.maxReceiveCount },
      });
      return { def, queue, deadLetterQueue };
    });

    this.mediaBucket = new Bucket(this, "MediaBucket", {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      encryption: BucketEncryption.S3_MANAGED,
      lifecycleRules: [
        {
          id: "expire-media",
          expiration: Duration.days(mediaBucket.expireAfterDays),
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.secrets = this.createSecrets();

    this.alarmTopic = new Topic(this, "AlarmTopic", {
      displayName: "separator-waba alarms",
      enforceSSL: true,
    });
    if (props.alarmEmail) this.alarmTopic.addSubscription(new EmailSubscription(props.alarmEmail));
  }

  /**
   * CloudFormation generates one key per secret (`GenerateSecretString.GenerateStringKey`), so `adminToken`
   * is generated by the secret itself and `encryptionKey` is added, once, by a small custom resource.
   * Never change `generateSecretString` below: CloudFormation would regenerate the whole value, losing
   * the encryption key.
   */
  private createSecrets(): Secret {
    const secrets = new Secret(this, "Secrets", {
      description:
        "separator-waba: admin API bearer token (adminToken) and data encryption key (encryptionKey)",
      generateSecretString: {
        secretStringTemplate: "{}",
        generateStringKey: "adminToken",
        passwordLength: adminTokenLength,
        excludePunctuation: true,
      },
      removalPolicy: RemovalPolicy.RETAIN,
    });

    const ensureGeneratedKeys = new LambdaFunction(this, "EnsureGeneratedSecretKeys", {
      description: "Deploy-time only: adds generated keys missing from the separator-waba secret",
      runtime: Runtime.NODEJS_24_X,
      architecture: Architecture.ARM_64,
      handler: "index.handler",
      code: Code.fromInline(ensureGeneratedKeysSource),
      timeout: Duration.seconds(30),
      logGroup: new LogGroup(this, "EnsureGeneratedSecretKeysLogs", {
        retention: RetentionDays.ONE_MONTH,
        removalPolicy: RemovalPolicy.DESTROY,
      }),
    });
    secrets.grantRead(ensureGeneratedKeys);
    secrets.grantWrite(ensureGeneratedKeys);
    // GetRandomPassword acts on no resource, so it cannot be scoped further.
    ensureGeneratedKeys.addToRolePolicy(
      new PolicyStatement({ actions: ["secretsmanager:GetRandomPassword"], resources: ["*"] }),
    );

    const provider = new Provider(this, "GeneratedSecretKeysProvider", {
      onEventHandler: ensureGeneratedKeys,
      logGroup: new LogGroup(this, "GeneratedSecretKeysProviderLogs", {
        retention: RetentionDays.ONE_MONTH,
        removalPolicy: RemovalPolicy.DESTROY,
      }),
    });
    new CustomResource(this, "GeneratedSecretKeys", {
      serviceToken: provider.serviceToken,
      resourceType: "Custom::GeneratedSecretKeys",
      properties: { SecretId: secrets.secretArn, GeneratedKeys: { encryptionKey: encryptionKeyLength } },
    });
    return secrets;
  }
}
