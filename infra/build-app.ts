import { type App, Tags } from "aws-cdk-lib";
import { StatefulStack } from "./stateful-stack.ts";
import { StatelessStack } from "./stateless-stack.ts";

/** Deployment choices, from `cdk … -c key=value` or cdk.json's `context`; all optional. */
export interface AppOptions {
  /** Custom domain of the HTTP API; needs `certificateArn`. `PUBLIC_BASE_URL` becomes `https://<domainName>`. */
  readonly domainName?: string | undefined;
  readonly certificateArn?: string | undefined;
  /** E-mail address subscribed to the alarm topic. */
  readonly alarmEmail?: string | undefined;
  /** Passed to the functions as `GRAPH_API_BASE_URL` / `BITRIX_OAUTH_URL` only when given. */
  readonly graphApiBaseUrl?: string | undefined;
  readonly bitrixOauthUrl?: string | undefined;
  /** `-c stage=NAME`: prefixes stacks, queues, secrets, dashboard and metrics, for several deployments per account. */
  readonly stage?: string | undefined;
  /** `-c region=…`: pins the stacks to a region (otherwise environment-agnostic, the region of the credentials). */
  readonly region?: string | undefined;
  /** `-c webhookReservedConcurrency=N`: reserve N concurrent executions for the Meta webhook (off by default). */
  readonly webhookReservedConcurrency?: number | undefined;
  /** `-c dashboard=true`: adds the CloudWatch dashboard (off by default: $3 a month beyond the free tier). */
  readonly dashboard?: boolean | undefined;
}

export interface SeparatorWabaStacks {
  readonly stateful: StatefulStack;
  readonly stateless: StatelessStack;
}

const contextKeys = [
  "domainName",
  "certificateArn",
  "alarmEmail",
  "graphApiBaseUrl",
  "bitrixOauthUrl",
  "stage",
  "region",
  "webhookReservedConcurrency",
] as const;

/** Stage names end up in queue, stack and secret names: letters, digits and dashes, short. */
const stagePattern = /^[a-z][a-z0-9-]{0,19}$/;

export function optionsFromContext(app: App): AppOptions {
  const options: Record<string, string | undefined> = {};
  const dashboard = flagFromContext(app, "dashboard");
  for (const key of contextKeys) {
    const value: unknown = app.node.tryGetContext(key);
    if (value !== undefined && value !== null && typeof value !== "string" && typeof value !== "number") {
      throw new Error(`context value ${key} must be a string`);
    }
    options[key] = String(value ?? "").trim() || undefined;
  }
  const reserved = options.webhookReservedConcurrency;
  if (reserved !== undefined && !/^[1-9]\d*$/.test(reserved)) {
    throw new Error("context value webhookReservedConcurrency must be a positive whole number");
  }
  return {
    ...options,
    webhookReservedConcurrency: reserved === undefined ? undefined : Number(reserved),
    dashboard,
  };
}

/** A yes/no context value: `true`/`false` from cdk.json, or the strings `-c key=true|false` gives. */
function flagFromContext(app: App, key: string): boolean | undefined {
  const value: unknown = app.node.tryGetContext(key);
  if (value === undefined || value === null || value === "") return undefined;
  if (value === true || value === "true") return true;
  if (value === false || value === "false") return false;
  throw new Error(`context value ${key} must be true or false`);
}

/**
 * Both stacks, environment-agnostic (no account or region, no look-ups), so synth works offline.
 * The stateful stack holds data and is retained; the stateless one can be replaced freely.
 */
export function buildApp(app: App, options: AppOptions = {}): SeparatorWabaStacks {
  const { stage } = options;
  if (stage !== undefined && !stagePattern.test(stage)) {
    throw new Error(
      "stage must be lower-case letters, digits and dashes (at most 20), starting with a letter",
    );
  }
  const prefix = stage ? `${stage}-` : "";
  const env = options.region ? { region: options.region } : undefined;
  Tags.of(app).add("project", "separator-waba");
  if (stage) Tags.of(app).add("stage", stage);
  const stateful = new StatefulStack(app, `${prefix}SeparatorWaba-Stateful`, {
    description: "separator-waba: table, queues, media bucket, secrets, alarm topic, custom domain",
    env,
    stage,
    alarmEmail: options.alarmEmail,
    domainName: options.domainName,
    certificateArn: options.certificateArn,
  });
  const stateless = new StatelessStack(app, `${prefix}SeparatorWaba-Stateless`, {
    description: "separator-waba: functions, HTTP API, queue consumers, alarms",
    env,
    stateful,
    graphApiBaseUrl: options.graphApiBaseUrl,
    bitrixOauthUrl: options.bitrixOauthUrl,
    webhookReservedConcurrency: options.webhookReservedConcurrency,
    dashboard: options.dashboard ?? false,
  });
  return { stateful, stateless };
}
