import {
  CfnOutput,
  type CfnResource,
  CustomResource,
  Duration,
  RemovalPolicy,
  SecretValue,
  Stack,
  type StackProps,
} from "aws-cdk-lib";
import { DomainName } from "aws-cdk-lib/aws-apigatewayv2";
import { Certificate } from "aws-cdk-lib/aws-certificatemanager";
import { AttributeType, Billing, TableV2 } from "aws-cdk-lib/aws-dynamodb";
import { Effect, PolicyStatement, ServicePrincipal } from "aws-cdk-lib/aws-iam";
import { Architecture, Code, Function as LambdaFunction, Runtime } from "aws-cdk-lib/aws-lambda";
import { LogGroup, RetentionDays } from "aws-cdk-lib/aws-logs";
import { BlockPublicAccess, Bucket, BucketEncryption } from "aws-cdk-lib/aws-s3";
import { Secret } from "aws-cdk-lib/aws-secretsmanager";
import { Topic } from "aws-cdk-lib/aws-sns";
import { EmailSubscription } from "aws-cdk-lib/aws-sns-subscriptions";
import { DeduplicationScope, FifoThroughputLimit, Queue, QueueEncryption } from "aws-cdk-lib/aws-sqs";
import { Provider } from "aws-cdk-lib/custom-resources";
import type { Construct } from "constructs";
import { mediaBucket, type QueueDef, queues, table } from "../shared/resources.ts";
import { acknowledge, acknowledgeDeployTimeFunction } from "./nag.ts";

export interface StatefulStackProps extends StackProps {
  /** Where alarm notifications are e-mailed; without it the topic has no subscriber. */
  readonly alarmEmail?: string | undefined;
  /** `-c stage=NAME`: prefix of every physical name, so several deployments share an account. */
  readonly stage?: string | undefined;
  /**
   * Custom domain of the HTTP API and its ACM certificate. It lives here, not with the API: replacing it
   * would change the callback URLs Meta and Bitrix24 were given.
   */
  readonly domainName?: string | undefined;
  readonly certificateArn?: string | undefined;
}

/** Messages (and dead letters) kept as long as SQS allows, so an outage of days loses nothing. */
const queueRetention = Duration.days(14);

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
 * Fills missing keys of a JSON secret, and never replaces a key that exists: rotating `encryptionKey`
 * would make every encrypted item unreadable. A missing key is first copied from `CopyFrom` (the secret
 * that held it before the key had a secret of its own), else generated with `GetRandomPassword`.
 * Inline (so nothing to bundle) and on the runtime's AWS SDK, as CDK's own custom resources are.
 */
const ensureGeneratedKeysSource = `
const sm = require("@aws-sdk/client-secrets-manager");
const client = new sm.SecretsManagerClient({});
const read = async (SecretId) =>
  JSON.parse((await client.send(new sm.GetSecretValueCommand({ SecretId }))).SecretString || "{}");
exports.handler = async (event) => {
  const { SecretId, GeneratedKeys, CopyFrom } = event.ResourceProperties;
  const physicalId = SecretId + "#generated-keys";
  if (event.RequestType === "Delete") return { PhysicalResourceId: physicalId };
  const value = await read(SecretId);
  const previous = CopyFrom ? await read(CopyFrom) : {};
  let changed = false;
  for (const [key, length] of Object.entries(GeneratedKeys)) {
    if (typeof value[key] === "string" && value[key].length > 0) continue;
    changed = true;
    if (typeof previous[key] === "string" && previous[key].length > 0) {
      value[key] = previous[key];
      continue;
    }
    const random = await client.send(
      new sm.GetRandomPasswordCommand({ PasswordLength: Number(length), ExcludePunctuation: true }),
    );
    value[key] = random.RandomPassword;
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
  /** JSON secret `{ adminToken }`, read only by the admin API. */
  readonly adminTokenSecret: Secret;
  /** JSON secret `{ encryptionKey }`, read by the functions that unseal stored credentials. */
  readonly encryptionKeySecret: Secret;
  readonly alarmTopic: Topic;
  readonly domain: DomainName | undefined;
  /** The custom domain's name as given (a plain string, so URLs built from it need no export). */
  readonly domainName: string | undefined;
  /** `""` or `"<stage>-"`: what every physical name starts with. */
  readonly namePrefix: string;

  constructor(scope: Construct, id: string, props: StatefulStackProps = {}) {
    super(scope, id, props);
    if (Boolean(props.domainName) !== Boolean(props.certificateArn)) {
      throw new Error("domainName and certificateArn must be given together");
    }
    this.namePrefix = props.stage ? `${props.stage}-` : "";

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
      // High-throughput FIFO (deduplication and throughput per message group): the default caps a queue
      // at about 300 sends/s, which a status burst after a campaign exceeds.
      const highThroughput = {
        deduplicationScope: DeduplicationScope.MESSAGE_GROUP,
        fifoThroughputLimit: FifoThroughputLimit.PER_MESSAGE_GROUP_ID,
      };
      const deadLetterQueue = new Queue(this, `${def.name}-dlq`, {
        queueName: `${this.namePrefix}${def.name}-dlq.fifo`,
        fifo: true,
        ...highThroughput,
        retentionPeriod: queueRetention,
        encryption: QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
      });
      acknowledge(
        deadLetterQueue,
        "Serverless-SQSRedrivePolicy",
        "This is the dead-letter queue; the admin API redrives from it",
      );
      const queue = new Queue(this, def.name, {
        queueName: `${this.namePrefix}${def.name}.fifo`,
        fifo: true,
        ...highThroughput,
        // A safety net for producers that send without a deduplication id; an explicit id still wins.
        contentBasedDeduplication: true,
        retentionPeriod: queueRetention,
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
    acknowledge(
      this.mediaBucket,
      "AwsSolutions-S1",
      "Media expire after 30 days and are reached only by the inbound worker and presigned URLs: access logs would need a bucket of their own for little",
    );

    const { adminTokenSecret, encryptionKeySecret } = this.createSecrets(props.stage);
    this.adminTokenSecret = adminTokenSecret;
    this.encryptionKeySecret = encryptionKeySecret;

    this.alarmTopic = this.createAlarmTopic(props.alarmEmail);

    this.domainName = props.domainName;
    this.domain =
      props.domainName && props.certificateArn
        ? new DomainName(this, "DomainName", {
            domainName: props.domainName,
            certificate: Certificate.fromCertificateArn(this, "Certificate", props.certificateArn),
          })
        : undefined;
    if (this.domain) {
      new CfnOutput(this, "CustomDomainTarget", {
        value: this.domain.regionalDomainName,
        description: `DNS target for ${props.domainName} (CNAME or alias record)`,
      });
    }
  }

  /**
   * `enforceSSL` alone leaves the topic with one Deny statement, which replaces SNS's default policy, so
   * CloudWatch could no longer publish and alarms would go mute. CloudWatch is allowed explicitly, for
   * alarms of this account only; the TLS-only Deny stays. No SSE: CloudWatch cannot use the AWS-managed
   * `alias/aws/sns` key, and alarm texts hold no data worth a customer-managed key.
   */
  private createAlarmTopic(alarmEmail: string | undefined): Topic {
    const topic = new Topic(this, "AlarmTopic", {
      displayName: `${this.namePrefix}separator-waba alarms`,
      enforceSSL: true,
    });
    topic.addToResourcePolicy(
      new PolicyStatement({
        sid: "AllowCloudWatchAlarmsToPublish",
        effect: Effect.ALLOW,
        principals: [new ServicePrincipal("cloudwatch.amazonaws.com")],
        actions: ["sns:Publish"],
        resources: [topic.topicArn],
        conditions: {
          StringEquals: { "aws:SourceAccount": this.account },
          ArnLike: {
            "aws:SourceArn": `arn:${this.partition}:cloudwatch:${this.region}:${this.account}:alarm:*`,
          },
        },
      }),
    );
    if (alarmEmail) {
      acknowledge(
        topic.addSubscription(new EmailSubscription(alarmEmail)),
        "Serverless-SNSRedrivePolicy",
        "An e-mail subscription has no message to redrive: CloudWatch keeps the alarm state and history",
      );
    }
    return topic;
  }

  /**
   * Two secrets, so that only the admin API can read the admin token. The first (logical id `Secrets`)
   * is the one earlier versions kept both values in: its `adminToken` is generated by CloudFormation
   * (never change `generateSecretString` below, CloudFormation would regenerate the value). The
   * encryption key's secret is filled once by a small custom resource: copied from the first secret
   * where an earlier version put it there, else generated.
   * Names are CloudFormation's own unless a stage is given, so a deployment without one keeps its secret.
   */
  private createSecrets(stage: string | undefined): {
    adminTokenSecret: Secret;
    encryptionKeySecret: Secret;
  } {
    const adminTokenSecret = new Secret(this, "Secrets", {
      description: "separator-waba: admin API bearer token (adminToken)",
      ...(stage ? { secretName: `${this.namePrefix}separator-waba/admin-token` } : {}),
      generateSecretString: {
        secretStringTemplate: "{}",
        generateStringKey: "adminToken",
        passwordLength: adminTokenLength,
        excludePunctuation: true,
      },
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const encryptionKeySecret = new Secret(this, "EncryptionKeySecret", {
      description: "separator-waba: data-encryption key of stored credentials (encryptionKey)",
      secretName: `${this.namePrefix}separator-waba/encryption-key`,
      // Created empty (nothing secret in the template); the custom resource below fills it once.
      secretStringValue: SecretValue.unsafePlainText("{}"),
      removalPolicy: RemovalPolicy.RETAIN,
    });
    acknowledge(
      adminTokenSecret,
      "AwsSolutions-SMG4",
      "The admin token is rotated by hand (README, Operations): automatic rotation would lock integrators out unannounced",
    );
    acknowledge(
      encryptionKeySecret,
      "AwsSolutions-SMG4",
      "Rotating the data-encryption key would make every sealed credential in the table unreadable",
    );

    const ensureGeneratedKeys = new LambdaFunction(this, "EnsureGeneratedSecretKeys", {
      description: "Deploy-time only: adds generated keys missing from the separator-waba secrets",
      runtime: Runtime.NODEJS_24_X,
      architecture: Architecture.ARM_64,
      handler: "index.handler",
      code: Code.fromInline(ensureGeneratedKeysSource),
      timeout: Duration.seconds(30),
      memorySize: 256,
      logGroup: new LogGroup(this, "EnsureGeneratedSecretKeysLogs", {
        retention: RetentionDays.ONE_MONTH,
        removalPolicy: RemovalPolicy.DESTROY,
      }),
    });
    encryptionKeySecret.grantRead(ensureGeneratedKeys);
    encryptionKeySecret.grantWrite(ensureGeneratedKeys);
    adminTokenSecret.grantRead(ensureGeneratedKeys);
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
    acknowledgeDeployTimeFunction(ensureGeneratedKeys);
    acknowledgeDeployTimeFunction(provider, true);
    acknowledge(
      ensureGeneratedKeys,
      "AwsSolutions-IAM5[Resource::*]",
      "secretsmanager:GetRandomPassword acts on no resource and cannot be scoped",
    );
    acknowledge(
      provider,
      `AwsSolutions-IAM5[Resource::<${this.getLogicalId(ensureGeneratedKeys.node.defaultChild as CfnResource)}.Arn>:*]`,
      "CDK's provider framework invokes the versions of the one function it wraps",
    );
    new CustomResource(this, "GeneratedSecretKeys", {
      serviceToken: provider.serviceToken,
      resourceType: "Custom::GeneratedSecretKeys",
      properties: {
        SecretId: encryptionKeySecret.secretArn,
        GeneratedKeys: { encryptionKey: encryptionKeyLength },
        CopyFrom: adminTokenSecret.secretArn,
      },
    });
    return { adminTokenSecret, encryptionKeySecret };
  }
}
