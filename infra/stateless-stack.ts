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
  DomainName,
  HttpApi,
  HttpMethod,
  type HttpStage,
  LogGroupLogDestination,
  PayloadFormatVersion,
} from "aws-cdk-lib/aws-apigatewayv2";
import { HttpLambdaIntegration } from "aws-cdk-lib/aws-apigatewayv2-integrations";
import { Certificate } from "aws-cdk-lib/aws-certificatemanager";
import { Alarm, ComparisonOperator, type Metric, TreatMissingData } from "aws-cdk-lib/aws-cloudwatch";
import { SnsAction } from "aws-cdk-lib/aws-cloudwatch-actions";
import {
  Architecture,
  ParamsAndSecretsLayerVersion,
  ParamsAndSecretsVersions,
  Runtime,
} from "aws-cdk-lib/aws-lambda";
import { SqsEventSource } from "aws-cdk-lib/aws-lambda-event-sources";
import { NodejsFunction, OutputFormat } from "aws-cdk-lib/aws-lambda-nodejs";
import { FilterPattern, LogGroup, MetricFilter, RetentionDays } from "aws-cdk-lib/aws-logs";
import type { Construct } from "constructs";
import {
  deadLetterLogMessage,
  type FunctionName,
  functions,
  resourceEnv,
  routes,
} from "../shared/resources.ts";
import { bundling } from "./bundling.ts";
import type { QueuePair, StatefulStack } from "./stateful-stack.ts";

export interface StatelessStackProps extends StackProps {
  readonly stateful: StatefulStack;
  /** Custom domain of the HTTP API; needs `certificateArn` (an ACM certificate in the stack's region). */
  readonly domainName?: string | undefined;
  readonly certificateArn?: string | undefined;
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

/** What can be replaced at any time: the functions, the HTTP API, the event sources and the alarms. */
export class StatelessStack extends Stack {
  readonly api: HttpApi;
  readonly functions: Record<FunctionName, NodejsFunction>;
  private readonly logGroups: Record<FunctionName, LogGroup>;
  private readonly stateful: StatefulStack;

  constructor(scope: Construct, id: string, props: StatelessStackProps) {
    super(scope, id, props);
    // Exports/imports: CloudFormation refuses to remove a table, queue or secret while functions use it.
    CrossStackReferences.of(this).consume(ReferenceStrength.STRONG);
    const { stateful } = props;
    this.stateful = stateful;
    if (Boolean(props.domainName) !== Boolean(props.certificateArn)) {
      throw new Error("domainName and certificateArn must be given together");
    }

    this.api = new HttpApi(this, "HttpApi", {
      description: "separator-waba: Meta webhooks, Bitrix24 callbacks and the admin API",
      createDefaultStage: false,
    });
    const domain =
      props.domainName && props.certificateArn
        ? new DomainName(this, "DomainName", {
            domainName: props.domainName,
            certificate: Certificate.fromCertificateArn(this, "Certificate", props.certificateArn),
          })
        : undefined;
    const stage = this.addDefaultStage(domain);
    const publicBaseUrl = props.domainName ? `https://${props.domainName}` : this.api.apiEndpoint;

    const environment: Record<string, string> = {
      [resourceEnv.tableName]: stateful.table.tableName,
      [resourceEnv.mediaBucket]: stateful.mediaBucket.bucketName,
      [resourceEnv.secretsArn]: stateful.secrets.secretArn,
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
        },
        projectRoot: repoRoot,
        depsLockFilePath: path.join(repoRoot, "package-lock.json"),
        // Secrets come through the AWS Parameters and Secrets extension: no Secrets Manager client bundled.
        paramsAndSecrets: ParamsAndSecretsLayerVersion.fromVersion(ParamsAndSecretsVersions.V1_0_103),
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
      stateful.table.grantReadWriteData(fn);
      stateful.secrets.grantRead(fn);
      created[def.name] = fn;
    }
    this.functions = created;
    this.logGroups = logGroups;

    stateful.mediaBucket.grantReadWrite(this.functions["inbound-worker"]);
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

    const apiUrl = domain ? `https://${props.domainName}/` : (stage.url ?? `${this.api.apiEndpoint}/`);
    new CfnOutput(this, "ApiUrl", { value: apiUrl, description: "Base URL of the HTTP API" });
    new CfnOutput(this, "MetaCallbackUrl", {
      value: `${publicBaseUrl}/api/waba/`,
      description: "Callback URL for the Meta app's WhatsApp webhook (add ?app_id=APP_ID to pin the app)",
    });
    new CfnOutput(this, "SecretArn", {
      value: stateful.secrets.secretArn,
      description:
        "Secret with the admin token; read it with: aws secretsmanager get-secret-value --secret-id <this ARN> " +
        "--query SecretString --output text (JSON; the token is adminToken)",
    });
    if (domain) {
      new CfnOutput(this, "CustomDomainTarget", {
        value: domain.regionalDomainName,
        description: `DNS target for ${props.domainName} (CNAME or alias record)`,
      });
    }
  }

  /** The `$default` stage, with JSON access logs (request path only: query strings carry verify tokens). */
  private addDefaultStage(domain: DomainName | undefined): HttpStage {
    const accessLogs = new LogGroup(this, "HttpApiAccessLogs", { retention: RetentionDays.ONE_MONTH });
    const stage = this.api.addStage("DefaultStage", {
      stageName: "$default",
      autoDeploy: true,
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
    this.functions[def.consumer].addEventSource(
      new SqsEventSource(queue, { batchSize: def.batchSize, reportBatchItemFailures: true }),
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
    };
    for (const { def, queue, deadLetterQueue } of this.stateful.queues) {
      // A worker that gives up records the dead letter itself (with its reason) and acknowledges the
      // message, so the DLQ stays empty: its log line is what counts them.
      const workerDeadLetters = new MetricFilter(this, `${pascalCase(def.name)}WorkerDeadLetterFilter`, {
        logGroup: this.logGroups[def.consumer],
        metricNamespace: "SeparatorWaba",
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
    for (const [name, fn] of Object.entries(this.functions)) {
      alarm(
        `${pascalCase(name)}Errors`,
        fn.metricErrors({ period: alarmPeriod, statistic: "Sum" }),
        1,
        ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        `${name} failed (uncaught errors or timeouts) in the last 5 minutes`,
      );
    }
  }
}

function pascalCase(name: string): string {
  return name.replace(/(^|-)([a-z0-9])/g, (_, _dash: string, c: string) => c.toUpperCase());
}
