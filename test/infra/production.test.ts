import { readFileSync } from "node:fs";
import path from "node:path";
import { App } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { beforeAll, describe, expect, it } from "vitest";
import { type AppOptions, buildApp, optionsFromContext } from "../../infra/build-app.ts";
import { functions, queues } from "../../shared/resources.ts";

type Resource = { Type: string; Properties: Record<string, unknown>; DeletionPolicy?: string };
type Statement = {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Principal?: unknown;
  Condition?: Record<string, Record<string, unknown>>;
};

/** Synth without esbuild (CDK's own switch): these tests read the templates, not the bundles. */
function synth(options: AppOptions = {}, context: Record<string, unknown> = {}) {
  const app = new App({ context: { "aws:cdk:bundling-stacks": [], ...context } });
  const stacks = buildApp(app, { ...optionsFromContext(app), ...options });
  return {
    stacks,
    stateful: Template.fromStack(stacks.stateful),
    stateless: Template.fromStack(stacks.stateless),
  };
}

const resourcesOf = (t: Template, type: string) => t.findResources(type) as Record<string, Resource>;
const json = (value: unknown) => JSON.stringify(value);

let base: ReturnType<typeof synth>;
beforeAll(() => {
  base = synth({ alarmEmail: "ops@example.com" });
});

/** The statements of the role a function runs with, found by the function's description. */
function statementsOf(template: Template, name: keyof typeof functions): Statement[] {
  const lambdas = resourcesOf(template, "AWS::Lambda::Function");
  const fn = Object.values(lambdas).find((f) => f.Properties.Description === functions[name].description);
  const roleId = (fn!.Properties.Role as { "Fn::GetAtt": [string] })["Fn::GetAtt"][0];
  return Object.values(resourcesOf(template, "AWS::IAM::Policy"))
    .filter((p) => (p.Properties.Roles as { Ref: string }[]).some((r) => r.Ref === roleId))
    .flatMap((p) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
}
const actionsOf = (statements: Statement[]) => new Set(statements.flatMap((s) => [s.Action].flat()));

/** Logical id (in the stateful stack) of a stateless value imported from it. */
function exportedId(stateful: Template, value: unknown): string | undefined {
  const name = (value as { "Fn::ImportValue"?: string })["Fn::ImportValue"];
  const outputs = stateful.toJSON().Outputs as Record<string, { Value: unknown; Export?: { Name: string } }>;
  const output = Object.values(outputs).find((o) => o.Export?.Name === name);
  const v = output?.Value as { Ref?: string; "Fn::GetAtt"?: [string] } | undefined;
  return v?.Ref ?? v?.["Fn::GetAtt"]?.[0];
}

describe("alarm e-mails reach someone", () => {
  it("lets CloudWatch publish to the alarm topic, and still refuses publishing without TLS", () => {
    const [policy] = Object.values(resourcesOf(base.stateful, "AWS::SNS::TopicPolicy"));
    const statements = (policy!.Properties.PolicyDocument as { Statement: Statement[] }).Statement;
    const allow = statements.find((s) => s.Effect === "Allow");
    expect(allow).toMatchObject({
      Action: "sns:Publish",
      Principal: { Service: "cloudwatch.amazonaws.com" },
      Condition: { StringEquals: { "aws:SourceAccount": { Ref: "AWS::AccountId" } } },
    });
    expect(statements.find((s) => s.Effect === "Deny")).toMatchObject({
      Action: "sns:Publish",
      Condition: { Bool: { "aws:SecureTransport": "false" } },
    });
  });

  it("never encrypts the topic with the AWS-managed SNS key, which CloudWatch cannot use", () => {
    for (const topic of Object.values(resourcesOf(base.stateful, "AWS::SNS::Topic"))) {
      expect(json(topic.Properties.KmsMasterKeyId ?? "")).not.toContain("alias/aws/sns");
    }
  });
});

describe("failures on the HTTP path alarm", () => {
  const alarms = () => Object.values(resourcesOf(base.stateless, "AWS::CloudWatch::Alarm"));

  it("alarms on any 5xx of the HTTP API", () => {
    const alarm = alarms().find((a) => a.Properties.MetricName === "5xx");
    expect(alarm?.Properties).toMatchObject({
      Namespace: "AWS/ApiGateway",
      Threshold: 1,
      ComparisonOperator: "GreaterThanOrEqualToThreshold",
    });
  });

  it("alarms on a spike of webhook signature failures, the metric the webhook writes", () => {
    const alarm = alarms().find((a) => a.Properties.MetricName === "WebhookSignatureFailures");
    expect(alarm?.Properties).toMatchObject({
      Namespace: "SeparatorWaba",
      Statistic: "Sum",
      Dimensions: [{ Name: "Service", Value: "waba-webhook" }],
    });
    expect(alarm?.Properties.Threshold as number).toBeGreaterThan(1);
  });

  it("alarms when the webhook's p99 duration is over 1 s", () => {
    const alarm = alarms().find(
      (a) => a.Properties.MetricName === "Duration" && a.Properties.ExtendedStatistic === "p99",
    );
    expect(alarm?.Properties).toMatchObject({ Threshold: 1000, ComparisonOperator: "GreaterThanThreshold" });
    const fnId = (alarm!.Properties.Dimensions as { Value: { Ref: string } }[])[0]?.Value.Ref ?? "";
    const fn = resourcesOf(base.stateless, "AWS::Lambda::Function")[fnId];
    expect(fn?.Properties.Description).toBe(functions["waba-webhook"].description);
  });
});

describe("limits that protect", () => {
  it("caps each queue's consumer concurrency at the event source", () => {
    const mappings = Object.values(resourcesOf(base.stateless, "AWS::Lambda::EventSourceMapping"));
    for (const def of queues) {
      const mapping = mappings.find((m) => {
        const id = exportedId(base.stateful, m.Properties.EventSourceArn) ?? "";
        return resourcesOf(base.stateful, "AWS::SQS::Queue")[id]?.Properties.QueueName === `${def.name}.fifo`;
      });
      expect(mapping?.Properties.ScalingConfig).toEqual({ MaximumConcurrency: def.maximumConcurrency });
    }
  });

  it("reserves webhook concurrency only when -c webhookReservedConcurrency is given", () => {
    for (const fn of Object.values(resourcesOf(base.stateless, "AWS::Lambda::Function"))) {
      expect(fn.Properties.ReservedConcurrentExecutions).toBeUndefined();
    }
    const reserved = synth({}, { webhookReservedConcurrency: "50" });
    const lambdas = Object.values(resourcesOf(reserved.stateless, "AWS::Lambda::Function"));
    const withReserve = lambdas.filter((f) => f.Properties.ReservedConcurrentExecutions !== undefined);
    expect(
      withReserve.map((f) => [f.Properties.Description, f.Properties.ReservedConcurrentExecutions]),
    ).toEqual([[functions["waba-webhook"].description, 50]]);
    expect(() => synth({}, { webhookReservedConcurrency: "lots" })).toThrow(/positive whole number/);
  });

  it("throttles the HTTP API stage", () => {
    const [stage] = Object.values(resourcesOf(base.stateless, "AWS::ApiGatewayV2::Stage"));
    const settings = stage?.Properties.DefaultRouteSettings as Record<string, number>;
    expect(settings.ThrottlingRateLimit).toBeGreaterThan(0);
    expect(settings.ThrottlingBurstLimit).toBeGreaterThanOrEqual(settings.ThrottlingRateLimit ?? 0);
  });

  it("puts every FIFO queue in high-throughput mode", () => {
    const all = Object.values(resourcesOf(base.stateful, "AWS::SQS::Queue"));
    expect(all).toHaveLength(2 * queues.length);
    for (const q of all) {
      expect(q.Properties).toMatchObject({
        FifoQueue: true,
        DeduplicationScope: "messageGroup",
        FifoThroughputLimit: "perMessageGroupId",
      });
    }
  });

  it("has each worker stop taking records with enough time left for one", () => {
    for (const def of queues) {
      const timeout = functions[def.consumer].timeoutSeconds;
      expect(def.stopTakingRecordsWithinSeconds).toBeGreaterThan(0);
      expect(def.stopTakingRecordsWithinSeconds).toBeLessThan(timeout);
    }
  });
});

describe("every commercial region", () => {
  it.each(["us-east-1", "eu-central-2", "ap-southeast-1"])("synthesizes for %s", (region) => {
    const { stacks, stateless } = synth({}, { region });
    expect(stacks.stateless.region).toBe(region);
    expect(stacks.stateful.region).toBe(region);
    // The Parameters-and-Secrets extension has no arm64 layer in every region: no layer at all.
    for (const fn of Object.values(resourcesOf(stateless, "AWS::Lambda::Function"))) {
      expect(fn.Properties.Layers).toBeUndefined();
    }
  });

  it("declares only the partition it works in", () => {
    const cdkJson = JSON.parse(readFileSync(path.resolve(import.meta.dirname, "../../cdk.json"), "utf8"));
    expect(cdkJson.context["@aws-cdk/core:target-partitions"]).toEqual(["aws"]);
  });
});

describe("several deployments per account", () => {
  /** Every name a resource is given in the template, which must be unique in an account and region. */
  function physicalNames(t: Template): string[] {
    const keys = ["QueueName", "Name", "DashboardName", "LogGroupName", "FunctionName", "TopicName"];
    return Object.values(t.toJSON().Resources as Record<string, Resource>).flatMap((r) =>
      keys.map((k) => r.Properties?.[k]).filter((v): v is string => typeof v === "string"),
    );
  }

  it("prefixes stacks, queues, secrets, dashboard and metrics with -c stage, so two stages coexist", () => {
    const a = synth({}, { stage: "staging", dashboard: "true" });
    const b = synth({}, { stage: "prod", dashboard: "true" });
    expect([a.stacks.stateful.stackName, a.stacks.stateless.stackName]).toEqual([
      "staging-SeparatorWaba-Stateful",
      "staging-SeparatorWaba-Stateless",
    ]);
    const namesA = [...physicalNames(a.stateful), ...physicalNames(a.stateless)];
    const namesB = [...physicalNames(b.stateful), ...physicalNames(b.stateless)];
    expect(namesA.filter((n) => namesB.includes(n))).toEqual([]);
    expect(namesA).toEqual(expect.arrayContaining(["staging-inbound.fifo", "staging-outbound-dlq.fifo"]));
    for (const n of physicalNames(a.stateful)) expect(n).toMatch(/^staging-/);
    const envOf = (t: Template) =>
      Object.values(resourcesOf(t, "AWS::Lambda::Function")).map(
        (f) =>
          (f.Properties.Environment as { Variables: Record<string, unknown> }).Variables.METRICS_NAMESPACE,
      );
    expect(new Set(envOf(a.stateless))).toEqual(new Set(["SeparatorWaba/staging"]));
    expect(new Set(envOf(b.stateless))).toEqual(new Set(["SeparatorWaba/prod"]));
    // Log groups have no fixed name: CloudFormation derives it from the (prefixed) stack name.
    for (const lg of Object.values(resourcesOf(a.stateless, "AWS::Logs::LogGroup"))) {
      expect(lg.Properties.LogGroupName).toBeUndefined();
    }
  });

  it("keeps today's names without -c stage", () => {
    expect(base.stacks.stateful.stackName).toBe("SeparatorWaba-Stateful");
    expect(base.stacks.stateless.stackName).toBe("SeparatorWaba-Stateless");
    expect(physicalNames(base.stateful)).toEqual(
      expect.arrayContaining(["inbound.fifo", "inbound-dlq.fifo", "outbound.fifo", "outbound-dlq.fifo"]),
    );
    // The secret earlier versions created keeps its generated name, so a deploy does not replace it.
    const secrets = Object.values(resourcesOf(base.stateful, "AWS::SecretsManager::Secret"));
    const admin = secrets.find((s) => json(s.Properties.GenerateSecretString).includes("adminToken"));
    expect(admin?.Properties.Name).toBeUndefined();
  });

  it("refuses a stage name that cannot prefix a queue name", () => {
    expect(() => synth({}, { stage: "Prod_1" })).toThrow(/stage must be/);
  });
});

describe("nothing a user configured disappears with the replaceable stack", () => {
  it("keeps the custom domain in the stateful stack and the mapping with the API", () => {
    const { stateful, stateless } = synth({
      domainName: "waba.example.com",
      certificateArn: "arn:aws:acm:eu-central-1:123456789012:certificate/example",
    });
    stateful.resourceCountIs("AWS::ApiGatewayV2::DomainName", 1);
    stateless.resourceCountIs("AWS::ApiGatewayV2::DomainName", 0);
    const [mapping] = Object.values(resourcesOf(stateless, "AWS::ApiGatewayV2::ApiMapping"));
    expect(exportedId(stateful, mapping?.Properties.DomainName)).toMatch(/^DomainName/);
    stateful.hasOutput("CustomDomainTarget", {});
  });

  it("keeps messages and dead letters 14 days", () => {
    for (const q of Object.values(resourcesOf(base.stateful, "AWS::SQS::Queue"))) {
      expect(q.Properties.MessageRetentionPeriod).toBe(14 * 24 * 3600);
    }
  });

  it("holds nothing with data in the stateless stack", () => {
    for (const type of [
      "AWS::DynamoDB::GlobalTable",
      "AWS::SQS::Queue",
      "AWS::S3::Bucket",
      "AWS::SecretsManager::Secret",
      "AWS::ApiGatewayV2::DomainName",
      "AWS::SNS::Topic",
    ]) {
      base.stateless.resourceCountIs(type, 0);
    }
  });
});

describe("least privilege", () => {
  const dynamoActions = (name: keyof typeof functions) =>
    [...actionsOf(statementsOf(base.stateless, name))].filter((a) => a.startsWith("dynamodb:"));

  it("lets the public webhook only read apps, WABAs and numbers by key, and update only unrouted counts", () => {
    const statements = statementsOf(base.stateless, "waba-webhook");
    expect(new Set(dynamoActions("waba-webhook"))).toEqual(
      new Set(["dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem"]),
    );
    const tables = statements.filter((s) => [s.Action].flat().some((a) => a.startsWith("dynamodb:")));
    const reads = tables.find((s) => [s.Action].flat().includes("dynamodb:GetItem"));
    expect(reads?.Condition).toEqual({
      "ForAllValues:StringLike": {
        "dynamodb:LeadingKeys": ["APP#*", "DOMAIN#*", "VERIFY#*", "WABA#*", "PHONE#*"],
      },
    });
    expect(json(reads?.Resource)).not.toContain("index");
    const writes = tables.find((s) => [s.Action].flat().includes("dynamodb:UpdateItem"));
    expect(writes?.Action).toBe("dynamodb:UpdateItem");
    expect(writes?.Condition).toEqual({
      "ForAllValues:StringLike": { "dynamodb:LeadingKeys": ["UNROUTED#*"] },
    });
    expect(json(writes?.Resource)).not.toContain("index");
  });

  it("grants no function Scan, wildcard actions or the table's streams, and batches only to the workers", () => {
    const batching = ["inbound-worker", "outbound-worker"];
    for (const name of Object.keys(functions) as (keyof typeof functions)[]) {
      const actions = [...actionsOf(statementsOf(base.stateless, name))];
      expect(
        actions.filter((a) => /Scan|Stream|Shard|Records|\*/.test(a)),
        name,
      ).toEqual([]);
      // Their customer aliases (phone and BSUID) are read and written together.
      expect(actions.filter((a) => a.startsWith("dynamodb:Batch")).sort(), name).toEqual(
        batching.includes(name) ? ["dynamodb:BatchGetItem", "dynamodb:BatchWriteItem"] : [],
      );
    }
  });

  it("lets the inbound worker put, get and abort uploads of media, the webhook only put claims, and nothing list or delete", () => {
    const expected: Partial<Record<keyof typeof functions, string[]>> = {
      "inbound-worker": ["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"],
      "waba-webhook": ["s3:PutObject"],
    };
    for (const name of Object.keys(functions) as (keyof typeof functions)[]) {
      const s3 = [...actionsOf(statementsOf(base.stateless, name))].filter((a) => a.startsWith("s3:"));
      expect(s3.sort(), name).toEqual(expected[name] ?? []);
    }
    const claims = statementsOf(base.stateless, "waba-webhook").find((s) => s.Action === "s3:PutObject");
    expect(json(claims?.Resource)).toContain('"/claims/*"');
  });

  it("keeps the encryption key and the admin token in separate secrets; only admin API functions read the token", () => {
    const tokenReaders = ["admin-api", "calling-api"];
    const secrets = resourcesOf(base.stateful, "AWS::SecretsManager::Secret");
    const adminId = Object.keys(secrets).find((id) => json(secrets[id]?.Properties).includes("adminToken"));
    const keyId = Object.keys(secrets).find((id) => id !== adminId);
    expect(adminId && keyId).toBeTruthy();
    for (const name of Object.keys(functions) as (keyof typeof functions)[]) {
      const read = statementsOf(base.stateless, name)
        .filter((s) => [s.Action].flat().includes("secretsmanager:GetSecretValue"))
        .map((s) => exportedId(base.stateful, s.Resource));
      expect(read.sort(), name).toEqual(tokenReaders.includes(name) ? [keyId, adminId].sort() : [keyId]);
      const variables = Object.values(resourcesOf(base.stateless, "AWS::Lambda::Function")).find(
        (f) => f.Properties.Description === functions[name].description,
      )?.Properties.Environment as { Variables: Record<string, unknown> };
      expect("ADMIN_TOKEN_SECRET_ARN" in variables.Variables, name).toBe(tokenReaders.includes(name));
    }
  });
});

describe("calling and SIP settings in a function of their own", () => {
  it("routes GET and PUT /api/admin/phones/{phoneId}/calling to it, the rest of /api/admin to the admin API", () => {
    const routes = Object.values(resourcesOf(base.stateless, "AWS::ApiGatewayV2::Route"));
    const integrations = resourcesOf(base.stateless, "AWS::ApiGatewayV2::Integration");
    const lambdas = resourcesOf(base.stateless, "AWS::Lambda::Function");
    const targetOf = (routeKey: string) => {
      const route = routes.find((r) => r.Properties.RouteKey === routeKey);
      const target = route?.Properties.Target as { "Fn::Join": [string, [string, { Ref: string }]] };
      const uri = integrations[target["Fn::Join"][1][1].Ref]?.Properties.IntegrationUri as {
        "Fn::GetAtt": [string];
      };
      return lambdas[uri["Fn::GetAtt"][0]]?.Properties.Description;
    };
    for (const method of ["GET", "PUT"]) {
      expect(targetOf(`${method} /api/admin/phones/{phoneId}/calling`)).toBe(
        functions["calling-api"].description,
      );
    }
    expect(targetOf("ANY /api/admin/{proxy+}")).toBe(functions["admin-api"].description);
  });

  it("may only read the number, its WABA and app, and update the number", () => {
    const statements = statementsOf(base.stateless, "calling-api");
    const table = statements.find((s) => [s.Action].flat().some((a) => a.startsWith("dynamodb:")));
    expect(new Set([table?.Action].flat())).toEqual(new Set(["dynamodb:GetItem", "dynamodb:UpdateItem"]));
    expect(table?.Condition).toEqual({
      "ForAllValues:StringLike": { "dynamodb:LeadingKeys": ["PHONE#*", "WABA#*", "APP#*"] },
    });
    expect([...actionsOf(statements)].some((a) => a.startsWith("sqs:Send") || a.startsWith("s3:"))).toBe(
      false,
    );
  });
});

describe("metrics and a dashboard", () => {
  it("adds no dashboard by default, since it bills by the month", () => {
    expect(Object.keys(resourcesOf(base.stateless, "AWS::CloudWatch::Dashboard"))).toEqual([]);
  });

  it("refuses a dashboard flag that is neither true nor false", () => {
    expect(() => synth({}, { dashboard: "yes" })).toThrow("context value dashboard must be true or false");
  });

  it("with -c dashboard=true has one dashboard showing the flow metrics, the queue ages and every alarm", () => {
    const withDashboard = synth({ alarmEmail: "ops@example.com" }, { dashboard: "true" });
    const dashboards = Object.values(resourcesOf(withDashboard.stateless, "AWS::CloudWatch::Dashboard"));
    expect(dashboards).toHaveLength(1);
    const [dashboard] = dashboards;
    const body = json(dashboard?.Properties.DashboardBody);
    for (const metric of [
      "InboundDelivered",
      "InboundDuplicate",
      "InboundFailed",
      "DeadLettered",
      "OutboundSent",
      "OutboundFailed",
      "BitrixTimeouts",
      "TokenRefreshes",
      "RateLimitWaits",
      "WebhookSignatureFailures",
      "ApproximateAgeOfOldestMessage",
    ]) {
      expect(body, metric).toContain(metric);
    }
    const alarmIds = Object.keys(resourcesOf(withDashboard.stateless, "AWS::CloudWatch::Alarm"));
    for (const id of alarmIds) expect(body, id).toContain(id);
  });
});
