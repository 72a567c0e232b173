import { App } from "aws-cdk-lib";
import { Match, Template } from "aws-cdk-lib/assertions";
import { beforeAll, describe, expect, it } from "vitest";
import { buildApp } from "../../infra/build-app.ts";
import { functions, mediaBucket, queues, routes, table } from "../../shared/resources.ts";

type Resource = { Type: string; Properties: Record<string, unknown> };
type Resources = Record<string, Resource>;

let stateful: Template;
let stateless: Template;

beforeAll(() => {
  // Synth bundles every function with esbuild; a few seconds, never Docker.
  const { stateful: statefulStack, stateless: statelessStack } = buildApp(new App(), {
    alarmEmail: "ops@example.com",
  });
  stateful = Template.fromStack(statefulStack);
  stateless = Template.fromStack(statelessStack);
}, 120_000);

function resources(template: Template, type: string): Resources {
  return template.findResources(type) as Resources;
}

function logicalIdOf(value: unknown): string {
  const v = value as { Ref?: string; "Fn::GetAtt"?: [string, string] };
  const id = v.Ref ?? v["Fn::GetAtt"]?.[0];
  if (!id) throw new Error(`not a reference: ${JSON.stringify(value)}`);
  return id;
}

/** Follows a stateless `Fn::ImportValue` to the stateful resource it exports. */
function importedLogicalId(value: unknown): string {
  const exportName = (value as { "Fn::ImportValue"?: string })["Fn::ImportValue"];
  const outputs = stateful.toJSON().Outputs as Record<string, { Value: unknown; Export?: { Name: string } }>;
  const output = Object.values(outputs).find((o) => o.Export?.Name === exportName);
  if (!output) throw new Error(`no stateful export ${exportName}`);
  return logicalIdOf(output.Value);
}

function queueByName(name: string): [string, Resource] {
  const found = Object.entries(resources(stateful, "AWS::SQS::Queue")).find(
    ([, q]) => q.Properties.QueueName === name,
  );
  if (!found) throw new Error(`no queue ${name}`);
  return found;
}

function functionByDescription(description: string): [string, Resource] {
  const found = Object.entries(resources(stateless, "AWS::Lambda::Function")).find(
    ([, f]) => f.Properties.Description === description,
  );
  if (!found) throw new Error(`no function "${description}"`);
  return found;
}

describe("CDK app", () => {
  it("routes every path of shared/resources.ts to its function", () => {
    const apiRoutes = Object.values(resources(stateless, "AWS::ApiGatewayV2::Route"));
    const integrations = resources(stateless, "AWS::ApiGatewayV2::Integration");
    const lambdas = resources(stateless, "AWS::Lambda::Function");
    for (const route of routes) {
      // HTTP API route keys cannot end in "/"; API Gateway serves "/api/waba/" from "GET /api/waba".
      const routeKey = `${route.method} ${route.path.length > 1 ? route.path.replace(/\/+$/, "") : route.path}`;
      const apiRoute = apiRoutes.find((r) => r.Properties.RouteKey === routeKey);
      expect(apiRoute, routeKey).toBeDefined();
      const target = apiRoute?.Properties.Target as { "Fn::Join": [string, [string, { Ref: string }]] };
      const integration = integrations[target["Fn::Join"][1][1].Ref];
      expect(integration?.Properties.PayloadFormatVersion).toBe("2.0");
      const fn = lambdas[logicalIdOf(integration?.Properties.IntegrationUri)];
      expect(fn?.Properties.Description, routeKey).toBe(functions[route.target].description);
    }
    for (const r of apiRoutes) expect(r.Properties.RouteKey).not.toMatch(/.\/$/);
  });

  it("makes every queue FIFO, encrypted, with a FIFO dead-letter queue after maxReceiveCount", () => {
    for (const def of queues) {
      const [dlqId, dlq] = queueByName(`${def.name}-dlq.fifo`);
      const [, queue] = queueByName(`${def.name}.fifo`);
      expect(dlq.Properties).toMatchObject({ FifoQueue: true, MessageRetentionPeriod: 14 * 24 * 3600 });
      expect(queue.Properties).toMatchObject({
        FifoQueue: true,
        SqsManagedSseEnabled: true,
        RedrivePolicy: {
          deadLetterTargetArn: { "Fn::GetAtt": [dlqId, "Arn"] },
          maxReceiveCount: def.maxReceiveCount,
        },
      });
    }
    stateful.resourcePropertiesCountIs(
      "AWS::SQS::QueuePolicy",
      {
        PolicyDocument: Match.objectLike({
          Statement: Match.arrayWith([Match.objectLike({ Effect: "Deny" })]),
        }),
      },
      2 * queues.length,
    );
  });

  it("consumes each queue in partial-batch mode; visibility covers the consumer's run and recovers a crash within 60 s inbound, 90 s outbound", () => {
    const mappings = Object.values(resources(stateless, "AWS::Lambda::EventSourceMapping"));
    expect(mappings).toHaveLength(queues.length);
    for (const def of queues) {
      const [queueId, queue] = queueByName(`${def.name}.fifo`);
      const mapping = mappings.find((m) => importedLogicalId(m.Properties.EventSourceArn) === queueId);
      expect(mapping?.Properties).toMatchObject({
        BatchSize: def.batchSize,
        FunctionResponseTypes: ["ReportBatchItemFailures"],
      });
      const consumer = resources(stateless, "AWS::Lambda::Function")[
        logicalIdOf(mapping?.Properties.FunctionName)
      ];
      expect(consumer?.Properties.Description).toBe(functions[def.consumer].description);
      const timeout = consumer?.Properties.Timeout as number;
      const visibility = queue.Properties.VisibilityTimeout as number;
      // AWS refuses an event source mapping whose function timeout exceeds the queue's visibility timeout
      // (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html).
      expect(visibility).toBeGreaterThanOrEqual(timeout);
      // A crashed worker's messages wait out the visibility timeout: customers' messages about a minute.
      expect(visibility).toBeLessThanOrEqual(def.name === "inbound" ? 60 : 90);
    }
  });

  it("lets every producer of a queue send to it (and nobody else)", () => {
    const policies = Object.values(resources(stateless, "AWS::IAM::Policy"));
    const roleOf = (name: keyof typeof functions) => {
      const [, fn] = functionByDescription(functions[name].description);
      return logicalIdOf(fn.Properties.Role);
    };
    const sendersOf = (queueId: string) =>
      policies
        .filter((p) =>
          (
            (p.Properties.PolicyDocument as { Statement: { Action: unknown; Resource: unknown }[] })
              .Statement ?? []
          ).some(
            (st) =>
              [st.Action].flat().some((a) => String(a).startsWith("sqs:SendMessage")) &&
              [st.Resource].flat().some((r) => {
                try {
                  return importedLogicalId(r) === queueId;
                } catch {
                  return false;
                }
              }),
          ),
        )
        .flatMap((p) => (p.Properties.Roles as unknown[]).map(logicalIdOf));
    // Written out, not read from shared/resources.ts: what each function's code enqueues.
    const expected: Record<string, (keyof typeof functions)[]> = {
      inbound: ["waba-webhook", "admin-api"],
      outbound: ["bitrix-events", "bitrix-sms", "admin-api"],
    };
    for (const def of queues) {
      const [queueId] = queueByName(`${def.name}.fifo`);
      expect(new Set(sendersOf(queueId))).toEqual(new Set((expected[def.name] ?? []).map(roleOf)));
    }
  });

  it("runs every function on Node.js 24, arm64, with the resources in its environment", () => {
    const lambdas = Object.values(resources(stateless, "AWS::Lambda::Function"));
    expect(lambdas).toHaveLength(Object.keys(functions).length);
    for (const def of Object.values(functions)) {
      const [, fn] = functionByDescription(def.description);
      expect(fn.Properties).toMatchObject({
        Runtime: "nodejs24.x",
        Architectures: ["arm64"],
        Handler: "index.handler",
        Timeout: def.timeoutSeconds,
        MemorySize: def.memoryMb,
      });
      const variables = (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
      expect(Object.keys(variables)).toEqual(
        expect.arrayContaining([
          "TABLE_NAME",
          "MEDIA_BUCKET",
          "ENCRYPTION_KEY_SECRET_ARN",
          ...queues.map((q) => q.urlEnv),
        ]),
      );
    }
  });

  it("keeps data in an on-demand table with the GSI, TTL and point-in-time recovery", () => {
    stateful.hasResource("AWS::DynamoDB::GlobalTable", {
      DeletionPolicy: "Retain",
      Properties: Match.objectLike({
        BillingMode: "PAY_PER_REQUEST",
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
        TimeToLiveSpecification: { AttributeName: table.ttlAttribute, Enabled: true },
        Replicas: [
          Match.objectLike({
            DeletionProtectionEnabled: true,
            PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
          }),
        ],
      }),
    });
  });

  it("expires media and blocks public access to the bucket", () => {
    stateful.hasResource("AWS::S3::Bucket", {
      DeletionPolicy: "Retain",
      Properties: Match.objectLike({
        LifecycleConfiguration: {
          Rules: [Match.objectLike({ ExpirationInDays: mediaBucket.expireAfterDays, Status: "Enabled" })],
        },
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
      }),
    });
  });

  it("generates adminToken in its secret, and encryptionKey into a second one (copied from the first if there)", () => {
    const secrets = resources(stateful, "AWS::SecretsManager::Secret");
    const [adminId] = Object.entries(secrets).find(
      ([, s]) =>
        (s.Properties.GenerateSecretString as { GenerateStringKey?: string })?.GenerateStringKey ===
        "adminToken",
    )!;
    // The logical id of the secret earlier versions kept both values in: renaming it would replace it.
    expect(adminId).toMatch(/^Secrets[0-9A-F]{8}$/);
    expect(secrets[adminId]).toMatchObject({ DeletionPolicy: "Retain" });
    const [keyId] = Object.keys(secrets).filter((id) => id !== adminId);
    expect(secrets[keyId!]).toMatchObject({ DeletionPolicy: "Retain", Properties: { SecretString: "{}" } });
    stateful.hasResourceProperties("Custom::GeneratedSecretKeys", {
      SecretId: { Ref: keyId },
      GeneratedKeys: { encryptionKey: 64 },
      CopyFrom: { Ref: adminId },
    });
  });

  it("counts the dead letters workers record (their log line) and alarms on them", () => {
    const filters = Object.values(resources(stateless, "AWS::Logs::MetricFilter"));
    const alarms = Object.values(resources(stateless, "AWS::CloudWatch::Alarm"));
    for (const def of queues) {
      const filter = filters.find((f) =>
        String(f.Properties.FilterPattern).includes(`${def.name} record dead-lettered`),
      );
      expect(filter, `metric filter for ${def.name}`).toBeDefined();
      const metricName = (filter!.Properties.MetricTransformations as { MetricName: string }[])[0]
        ?.MetricName;
      expect(alarms.some((a) => a.Properties.MetricName === metricName && a.Properties.Threshold === 1)).toBe(
        true,
      );
    }
  });

  it("alarms on dead letters, old messages and function errors, to the alarm topic", () => {
    const alarms = Object.values(resources(stateless, "AWS::CloudWatch::Alarm"));
    for (const def of queues) {
      const [dlqId] = queueByName(`${def.name}-dlq.fifo`);
      const [queueId] = queueByName(`${def.name}.fifo`);
      const on = (metric: string, queueLogicalId: string) =>
        alarms.find((a) => {
          const dims = a.Properties.Dimensions as [{ Value: unknown }] | undefined;
          return (
            a.Properties.MetricName === metric && dims && importedLogicalId(dims[0].Value) === queueLogicalId
          );
        });
      expect(on("ApproximateNumberOfMessagesVisible", dlqId)?.Properties).toMatchObject({
        Threshold: 1,
        ComparisonOperator: "GreaterThanOrEqualToThreshold",
      });
      expect(on("ApproximateAgeOfOldestMessage", queueId)?.Properties).toMatchObject({
        Threshold: 300,
        ComparisonOperator: "GreaterThanThreshold",
      });
    }
    // Errors alarms watch the queue consumers; an HTTP function's crash is a 5xx of the API (its alarm).
    const errorAlarmFunctions = alarms
      .filter((a) => a.Properties.MetricName === "Errors")
      .map((a) => (a.Properties.Dimensions as [{ Value: { Ref: string } }])[0].Value.Ref);
    const functionIdOf = (name: keyof typeof functions) =>
      Object.entries(resources(stateless, "AWS::Lambda::Function")).find(
        ([, f]) => f.Properties.Description === functions[name].description,
      )?.[0];
    expect(errorAlarmFunctions.sort()).toEqual(queues.map((q) => functionIdOf(q.consumer)).sort());
    expect(alarms.some((a) => a.Properties.MetricName === "5xx" && a.Properties.Threshold === 1)).toBe(true);
    const [topicId] = Object.keys(resources(stateful, "AWS::SNS::Topic"));
    for (const a of alarms) {
      expect(importedLogicalId((a.Properties.AlarmActions as unknown[])[0])).toBe(topicId);
    }
    stateful.hasResourceProperties("AWS::SNS::Subscription", {
      Protocol: "email",
      Endpoint: "ops@example.com",
    });
  });
});

describe("CDK app with a custom domain", () => {
  it("maps the domain to the API and gives it to the functions as PUBLIC_BASE_URL", () => {
    const { stateless: stack, stateful: statefulStack } = buildApp(new App(), {
      domainName: "waba.example.com",
      certificateArn: "arn:aws:acm:eu-central-1:123456789012:certificate/example",
      bitrixOauthUrl: "https://oauth.example.test",
    });
    const template = Template.fromStack(stack);
    template.resourceCountIs("AWS::ApiGatewayV2::ApiMapping", 1);
    for (const fn of Object.values(resources(template, "AWS::Lambda::Function"))) {
      expect((fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables).toMatchObject({
        PUBLIC_BASE_URL: "https://waba.example.com",
        BITRIX_OAUTH_URL: "https://oauth.example.test",
      });
    }
    template.hasOutput("MetaCallbackUrl", { Value: "https://waba.example.com/api/waba/" });
    // The domain outlives the replaceable stack: losing it would change the URLs Meta and Bitrix24 call.
    template.resourceCountIs("AWS::ApiGatewayV2::DomainName", 0);
    Template.fromStack(statefulStack).hasResourceProperties("AWS::ApiGatewayV2::DomainName", {
      DomainName: "waba.example.com",
    });
  }, 60_000);

  it("refuses a domain without its certificate", () => {
    expect(() => buildApp(new App(), { domainName: "waba.example.com" })).toThrow(/certificateArn/);
  });
});
