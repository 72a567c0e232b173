import path from "node:path";
import {
  CfnOutput,
  CrossStackReferences,
  Duration,
  ReferenceStrength,
  Stack,
  type StackProps,
} from "aws-cdk-lib";
import { AccessLogFormat } from "aws-cdk-lib/aws-apigateway";
import {
  ApiMapping,
  type DomainName,
  HttpApi,
  HttpMethod,
  type HttpStage,
  LogGroupLogDestination,
  PayloadFormatVersion,
} from "aws-cdk-lib/aws-apigatewayv2";
import { HttpLambdaIntegration } from "aws-cdk-lib/aws-apigatewayv2-integrations";
import {
  Alarm,
  AlarmStatusWidget,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  type IAlarm,
  Metric,
  TreatMissingData,
} from "aws-cdk-lib/aws-cloudwatch";
import { SnsAction } from "aws-cdk-lib/aws-cloudwatch-actions";
import { Architecture, Runtime } from "aws-cdk-lib/aws-lambda";
import { SqsEventSource } from "aws-cdk-lib/aws-lambda-event-sources";
import { NodejsFunction, OutputFormat } from "aws-cdk-lib/aws-lambda-nodejs";
import { FilterPattern, LogGroup, MetricFilter, RetentionDays } from "aws-cdk-lib/aws-logs";
import type { Construct } from "constructs";
import { CLAIM_KEY_PREFIX } from "../shared/claim-check.ts";
import { metricDimensions, metricNames } from "../shared/ports/metrics.ts";
import {
  deadLetterLogMessage,
  type FunctionName,
  functions,
  resourceEnv,
  routes,
} from "../shared/resources.ts";
import { bundling } from "./bundling.ts";
import { type BucketAccess, bucketAccess, grantBucketAccess, grantTableAccess, tableAccess } from "./iam.ts";
import { acknowledge, acknowledgeBasicExecutionRole } from "./nag.ts";
import type { QueuePair, StatefulStack } from "./stateful-stack.ts";

export interface StatelessStackProps extends StackProps {
  readonly stateful: StatefulStack;
  /**
   * `-c webhookReservedConcurrency=N`: concurrency set aside for the Meta webhook so busy workers cannot
   * starve it. Off by default: a new account's concurrency quota is too small to reserve any, and the
   * deployment would fail.
   */
  readonly webhookReservedConcurrency?: number | undefined;
  /**
   * `-c dashboard=true`: one CloudWatch dashboard of the flow metrics, queue ages and alarms. Off by
   * default: it bills $3 a month beyond CloudWatch's free three, more than the rest of an idle
   * deployment, while the alarms (which notify) and the metrics (which the console graphs) exist anyway.
   */
  readonly dashboard?: boolean | undefined;
  /** Overrides of the functions' defaults (`GRAPH_API_BASE_URL`, `BITRIX_OAUTH_URL`), e.g. for a sandbox. */
  readonly graphApiBaseUrl?: string | undefined;
  readonly bitrixOauthUrl?: string | undefined;
}

const repoRoot = path.resolve(import.meta.dirname, "..");

/** The function that lists and redrives dead letters. */
const deadLetterAdmin: FunctionName = "admin-api";

/**
 * HTTP API routes cannot end in "/" (CloudFormation rejects such a route key, CDK refuses it at synth);
 * API Gateway routes `/api/waba/` to the `/api/waba` route, so both spellings reach the same function.
 */
export function routePath(routeDefPath: string): string {
  return routeDefPath.length > 1 ? routeDefPath.replace(/\/+$/, "") : routeDefPath;
}

const alarmPeriod = Duration.minutes(5);
const maxMessageAgeSeconds = 300;
/** Meta expects webhook answers within seconds; p99 above this is the early warning. */
const webhookLatencyP99Ms = 1000;
/** A rotated app secret nobody updated fails every signature: a handful in five minutes is noise. */
const signatureFailuresPer5Min = 20;
/** HTTP API stage throttling: well above Meta's bursts after a campaign, well below the account limit. */
export const apiThrottle = { rateLimit: 1000, burstLimit: 2000 } as const;
/** Functions that answer the admin API, the only ones allowed to read the admin token. */
const adminTokenReaders: readonly FunctionName[] = ["admin-api", "calling-api"];

/** What can be replaced at any time: the functions, the HTTP API, the event sources and the alarms. */
export class StatelessStack extends Stack {
  readonly api: HttpApi;
  readonly functions: Record<FunctionName, NodejsFunction>;
  private readonly logGroups: Record<FunctionName, LogGroup>;
  private readonly stateful: StatefulStack;
  private readonly metricsNamespace: string;
  private readonly alarms: IAlarm[] = [];

  constructor(scope: Construct, id: string, props: StatelessStackProps) {
    super(scope, id, props);
    // Exports/imports: CloudFormation refuses to remove a table, queue or secret while functions use it.
    CrossStackReferences.of(this).consume(ReferenceStrength.STRONG);
    const { stateful } = props;
    this.stateful = stateful;
    this.metricsNamespace = `SeparatorWaba${stateful.namePrefix ? `/${stateful.namePrefix.slice(0, -1)}` : ""}`;

    this.api = new HttpApi(this, "HttpApi", {
      apiName: `${stateful.namePrefix}separator-waba`,
      description: "separator-waba: Meta webhooks, Bitrix24 callbacks and the admin API",
      createDefaultStage: false,
    });
    acknowledge(
      this.api,
      "AwsSolutions-APIG4",
      "Every route authenticates in its function: Meta's HMAC signature, Bitrix24's application token or handler secret, the admin bearer token",
    );
    const domain = stateful.domain;
    const stage = this.addDefaultStage(domain);
    const publicBaseUrl = domain ? `https://${stateful.domainName}` : this.api.apiEndpoint;

    const environment: Record<string, string> = {
      [resourceEnv.tableName]: stateful.table.tableName,
      [resourceEnv.mediaBucket]: stateful.mediaBucket.bucketName,
      [resourceEnv.encryptionKeySecretArn]: stateful.encryptionKeySecret.secretArn,
      [resourceEnv.metricsNamespace]: this.metricsNamespace,
      PUBLIC_BASE_URL: publicBaseUrl,
      ...Object.fromEntries(stateful.queues.map(({ def, queue }) => [def.urlEnv, queue.queueUrl])),
      ...(props.graphApiBaseUrl ? { GRAPH_API_BASE_URL: props.graphApiBaseUrl } : {}),
      ...(props.bitrixOauthUrl ? { BITRIX_OAUTH_URL: props.bitrixOauthUrl } : {}),
    };

    const created = {} as Record<FunctionName, NodejsFunction>;
    const logGroups = {} as Record<FunctionName, LogGroup>;
    for (const def of Object.values(functions)) {
      const logGroup = new LogGroup(this, `${pascalCase(def.name)}Logs`, {
        retention: RetentionDays.ONE_MONTH,
      });
      logGroups[def.name] = logGroup;
      const fn = new NodejsFunction(this, pascalCase(def.name), {
        entry: path.join(repoRoot, def.entry),
        handler: "handler",
        description: def.description,
        runtime: Runtime.NODEJS_24_X,
        architecture: Architecture.ARM_64,
        timeout: Duration.seconds(def.timeoutSeconds),
        memorySize: def.memoryMb,
        environment: {
          ...environment,
          ...(def.name === deadLetterAdmin
            ? Object.fromEntries(stateful.queues.map((q) => [q.def.dlqUrlEnv, q.deadLetterQueue.queueUrl]))
            : {}),
          ...(adminTokenReaders.includes(def.name)
            ? { [resourceEnv.adminTokenSecretArn]: stateful.adminTokenSecret.secretArn }
            : {}),
        },
        ...(def.name === "waba-webhook" && props.webhookReservedConcurrency
          ? { reservedConcurrentExecutions: props.webhookReservedConcurrency }
          : {}),
        projectRoot: repoRoot,
        depsLockFilePath: path.join(repoRoot, "package-lock.json"),
        bundling: {
          format: OutputFormat.ESM,
          minify: bundling.minify,
          keepNames: bundling.keepNames,
          sourceMap: bundling.sourcemap,
          target: bundling.target,
          mainFields: [...bundling.mainFields],
          banner: bundling.banner,
          // Bundle the AWS SDK too: the version we test is the version that runs.
          externalModules: [],
          // esbuild is a devDependency: bundling is local, never in a Docker container.
          forceDockerBundling: false,
        },
        logGroup,
      });
      grantTableAccess(stateful.table, fn, tableAccess[def.name]);
      // Every function unseals stored credentials (app secrets, access and OAuth tokens).
      stateful.encryptionKeySecret.grantRead(fn);
      if (adminTokenReaders.includes(def.name)) stateful.adminTokenSecret.grantRead(fn);
      acknowledgeBasicExecutionRole(fn);
      acknowledge(
        fn,
        "Serverless-LambdaTracing",
        "Each log line carries the request id; X-Ray would add cost and a wildcard IAM grant for little more",
      );
      acknowledge(
        fn,
        "Serverless-LambdaDLQ",
        def.name.endsWith("-worker")
          ? "Invoked by an SQS event source: failed messages go to the queue's own dead-letter queue"
          : "Invoked synchronously by API Gateway: the caller sees the error, there is nothing to requeue",
      );
      created[def.name] = fn;
    }
    this.functions = created;
    this.logGroups = logGroups;

    for (const [name, access] of Object.entries(bucketAccess) as [FunctionName, BucketAccess][])
      grantBucketAccess(stateful.mediaBucket, this.functions[name], access);
    acknowledge(
      this.functions["waba-webhook"],
      `AwsSolutions-IAM5[Resource::${stateful.stackName}:ExportsOutputFnGetAttMediaBucketBCBB02BAArnB94B784B/${CLAIM_KEY_PREFIX}*]`,
      "Claim objects are named by the event they hold, known only when it arrives",
    );
    acknowledge(
      this.functions["inbound-worker"],
      // cdk-nag names the resource by the stateful stack's export of the bucket ARN.
      `AwsSolutions-IAM5[Resource::${stateful.stackName}:ExportsOutputFnGetAttMediaBucketBCBB02BAArnB94B784B/*]`,
      "Media object keys are message ids, known only when a message arrives",
    );
    for (const pair of stateful.queues) this.connectQueue(pair);

    const integrations = new Map<FunctionName, HttpLambdaIntegration>();
    const added = new Set<string>();
    for (const route of routes) {
      const routeKey = `${route.method} ${routePath(route.path)}`;
      if (added.has(routeKey)) continue;
      added.add(routeKey);
      let integration = integrations.get(route.target);
      if (!integration) {
        integration = new HttpLambdaIntegration(
          `${pascalCase(route.target)}Integration`,
          this.functions[route.target],
          {
            payloadFormatVersion: PayloadFormatVersion.VERSION_2_0,
          },
        );
        integrations.set(route.target, integration);
      }
      this.api.addRoutes({ path: routePath(route.path), methods: [HttpMethod[route.method]], integration });
    }

    this.addAlarms();

    if (props.dashboard) this.addDashboard();

    const apiUrl = domain ? `https://${stateful.domainName}/` : (stage.url ?? `${this.api.apiEndpoint}/`);
    new CfnOutput(this, "ApiUrl", { value: apiUrl, description: "Base URL of the HTTP API" });
    new CfnOutput(this, "MetaCallbackUrl", {
      value: `${publicBaseUrl}/api/waba/`,
      description: "Callback URL for the Meta app's WhatsApp webhook (add ?app_id=APP_ID to pin the app)",
    });
    new CfnOutput(this, "SecretArn", {
      value: stateful.adminTokenSecret.secretArn,
      description:
        "Secret with the admin token; read it with: aws secretsmanager get-secret-value --secret-id <this ARN> " +
        "--query SecretString --output text (JSON; the token is adminToken)",
    });
  }

  /** The `$default` stage, with JSON access logs (request path only: query strings carry verify tokens). */
  private addDefaultStage(domain: DomainName | undefined): HttpStage {
    const accessLogs = new LogGroup(this, "HttpApiAccessLogs", { retention: RetentionDays.ONE_MONTH });
    const stage = this.api.addStage("DefaultStage", {
      stageName: "$default",
      autoDeploy: true,
      throttle: apiThrottle,
      accessLogSettings: {
        destination: new LogGroupLogDestination(accessLogs),
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: "$context.requestId",
            ip: "$context.identity.sourceIp",
            requestTime: "$context.requestTime",
            method: "$context.httpMethod",
            routeKey: "$context.routeKey",
            path: "$context.path",
            status: "$context.status",
            responseLength: "$context.responseLength",
            integrationLatency: "$context.integrationLatency",
            integrationError: "$context.integrationErrorMessage",
          }),
        ),
      },
    });
    if (domain) new ApiMapping(this, "DomainMapping", { api: this.api, domainName: domain, stage });
    return stage;
  }

  /** Consumer event source, producers' send rights, and the dead-letter admin's rights on the DLQ. */
  private connectQueue({ def, queue, deadLetterQueue }: QueuePair): void {
    const consumer = this.functions[def.consumer];
    consumer.addEventSource(
      new SqsEventSource(queue, {
        batchSize: def.batchSize,
        reportBatchItemFailures: true,
        maxConcurrency: def.maximumConcurrency,
      }),
    );
    acknowledge(
      consumer,
      "Serverless-LambdaEventSourceMappingDestination",
      `Failed records go to ${def.name}-dlq.fifo by the queue's redrive policy, and the worker records dead letters`,
    );
    for (const producer of def.producers) queue.grantSendMessages(this.functions[producer]);
    deadLetterQueue.grantConsumeMessages(this.functions[deadLetterAdmin]);
  }

  private addAlarms(): void {
    const action = new SnsAction(this.stateful.alarmTopic);
    const alarm = (
      id: string,
      metric: Metric,
      threshold: number,
      operator: ComparisonOperator,
      text: string,
    ) => {
      const created = new Alarm(this, id, {
        metric,
        threshold,
        comparisonOperator: operator,
        evaluationPeriods: 1,
        treatMissingData: TreatMissingData.NOT_BREACHING,
        alarmDescription: text,
      });
      created.addAlarmAction(action);
      created.addOkAction(action);
      this.alarms.push(created);
    };
    for (const { def, queue, deadLetterQueue } of this.stateful.queues) {
      // A worker that gives up records the dead letter itself (with its reason) and acknowledges the
      // message, so the DLQ stays empty: its log line is what counts them.
      const workerDeadLetters = new MetricFilter(this, `${pascalCase(def.name)}WorkerDeadLetterFilter`, {
        logGroup: this.logGroups[def.consumer],
        metricNamespace: this.metricsNamespace,
        metricName: `${pascalCase(def.name)}DeadLetters`,
        filterPattern: FilterPattern.stringValue("$.message", "=", deadLetterLogMessage(def.name)),
        metricValue: "1",
      });
      alarm(
        `${pascalCase(def.name)}WorkerDeadLetters`,
        workerDeadLetters.metric({ period: alarmPeriod, statistic: "Sum" }),
        1,
        ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        `${def.consumer} gave up on a message: see GET /api/admin/dead-letters for the reason, then redrive`,
      );
      alarm(
        `${pascalCase(def.name)}DeadLetters`,
        deadLetterQueue.metricApproximateNumberOfMessagesVisible({
          period: alarmPeriod,
          statistic: "Maximum",
        }),
        1,
        ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        `Messages in ${def.name}-dlq.fifo: see GET /api/admin/dead-letters, then redrive`,
      );
      alarm(
        `${pascalCase(def.name)}OldestMessageAge`,
        queue.metricApproximateAgeOfOldestMessage({ period: alarmPeriod, statistic: "Maximum" }),
        maxMessageAgeSeconds,
        ComparisonOperator.GREATER_THAN_THRESHOLD,
        `${def.name}.fifo is falling behind: oldest message older than ${maxMessageAgeSeconds} s`,
      );
    }
    // Only the queue consumers get an Errors alarm: an HTTP function's crash or timeout reaches the caller
    // as a 5xx, which the HttpApi5xx alarm below already counts (each alarm bills by the month).
    for (const { def } of this.stateful.queues) {
      alarm(
        `${pascalCase(def.consumer)}Errors`,
        this.functions[def.consumer].metricErrors({ period: alarmPeriod, statistic: "Sum" }),
        1,
        ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        `${def.consumer} failed (uncaught errors or timeouts) in the last 5 minutes`,
      );
    }
    // HTTP handlers answer errors with a 500 rather than failing, so Lambda's Errors stays at 0 for them;
    // a crash or timeout of one is a 5xx here too.
    alarm(
      "HttpApi5xx",
      this.api.metricServerError({ period: alarmPeriod, statistic: "Sum" }),
      1,
      ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      "The HTTP API answered 5xx: a broken secret or table answers every Meta webhook with 500; the access log's routeKey and integrationError name the route, then see that function's logs",
    );
    // HTTP APIs publish no 4xx-by-route metric: the webhook writes this one in embedded metric format.
    alarm(
      "WebhookSignatureFailures",
      this.customMetric(metricNames.webhookSignatureFailures, { service: "waba-webhook" }),
      signatureFailuresPer5Min,
      ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      "Many webhooks on /api/waba failed the signature check: was the Meta app secret rotated without PATCH /api/admin/apps?",
    );
    alarm(
      "WebhookLatencyP99",
      this.functions["waba-webhook"].metricDuration({ period: alarmPeriod, statistic: "p99" }),
      webhookLatencyP99Ms,
      ComparisonOperator.GREATER_THAN_THRESHOLD,
      `The Meta webhook's p99 duration is over ${webhookLatencyP99Ms} ms: Meta expects quick answers and retries slow ones`,
    );
  }

  /** A metric the functions write as embedded-metric-format lines (shared/metrics.ts). */
  private customMetric(name: string, dimensions: Record<string, string>): Metric {
    return new Metric({
      namespace: this.metricsNamespace,
      metricName: name,
      dimensionsMap: { [metricDimensions.service]: dimensions.service ?? "" },
      period: alarmPeriod,
      statistic: "Sum",
    });
  }

  /** One page with the flow through the system, the queues' ages and every alarm. */
  private addDashboard(): void {
    const sum = (name: string, service: string, label: string) =>
      this.customMetric(name, { service }).with({ label });
    const dashboard = new Dashboard(this, "Dashboard", {
      dashboardName: `${this.stateful.namePrefix}SeparatorWaba`,
    });
    dashboard.addWidgets(
      new GraphWidget({
        title: "Inbound (WhatsApp → Bitrix24)",
        left: [
          sum(metricNames.inboundDelivered, "inbound-worker", "delivered"),
          sum(metricNames.inboundDuplicate, "inbound-worker", "duplicate"),
          sum(metricNames.inboundFailed, "inbound-worker", "failed"),
          sum(metricNames.deadLettered, "inbound-worker", "dead-lettered"),
        ],
        width: 12,
      }),
      new GraphWidget({
        title: "Outbound (Bitrix24 → WhatsApp)",
        left: [
          sum(metricNames.outboundSent, "outbound-worker", "sent"),
          sum(metricNames.outboundFailed, "outbound-worker", "failed"),
          sum(metricNames.deadLettered, "outbound-worker", "dead-lettered"),
        ],
        width: 12,
      }),
      new GraphWidget({
        title: "Bitrix24 and Meta",
        left: [
          sum(metricNames.bitrixTimeouts, "inbound-worker", "Bitrix24 timeouts"),
          sum(metricNames.tokenRefreshes, "inbound-worker", "token refreshes (inbound)"),
          sum(metricNames.tokenRefreshes, "outbound-worker", "token refreshes (outbound)"),
          sum(metricNames.rateLimitWaits, "outbound-worker", "rate-limit waits"),
          sum(metricNames.webhookSignatureFailures, "waba-webhook", "webhook signature failures"),
        ],
        width: 12,
      }),
      new GraphWidget({
        title: "Queue age (oldest message, s)",
        left: this.stateful.queues.map(({ def, queue }) =>
          queue.metricApproximateAgeOfOldestMessage({ statistic: "Maximum", label: def.name }),
        ),
        width: 12,
      }),
      new GraphWidget({
        title: "HTTP API",
        left: [
          this.api.metricServerError({ statistic: "Sum", label: "5xx" }),
          this.api.metricClientError({ statistic: "Sum", label: "4xx" }),
        ],
        right: [this.functions["waba-webhook"].metricDuration({ statistic: "p99", label: "webhook p99 ms" })],
        width: 12,
      }),
      new AlarmStatusWidget({ title: "Alarms", alarms: this.alarms, width: 12 }),
    );
  }
}

function pascalCase(name: string): string {
  return name.replace(/(^|-)([a-z0-9])/g, (_, _dash: string, c: string) => c.toUpperCase());
}
