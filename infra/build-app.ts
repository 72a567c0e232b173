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
] as const;

export function optionsFromContext(app: App): AppOptions {
  const options: Record<string, string | undefined> = {};
  for (const key of contextKeys) {
    const value: unknown = app.node.tryGetContext(key);
    if (value !== undefined && value !== null && typeof value !== "string") {
      throw new Error(`context value ${key} must be a string`);
    }
    options[key] = value?.trim() || undefined;
  }
  return options;
}

/**
 * Both stacks, environment-agnostic (no account or region, no look-ups), so synth works offline.
 * The stateful stack holds data and is retained; the stateless one can be replaced freely.
 */
export function buildApp(app: App, options: AppOptions = {}): SeparatorWabaStacks {
  Tags.of(app).add("project", "separator-waba");
  const stateful = new StatefulStack(app, "SeparatorWaba-Stateful", {
    description: "separator-waba: table, queues, media bucket, secrets, alarm topic",
    alarmEmail: options.alarmEmail,
  });
  const stateless = new StatelessStack(app, "SeparatorWaba-Stateless", {
    description: "separator-waba: functions, HTTP API, queue consumers, alarms",
    stateful,
    domainName: options.domainName,
    certificateArn: options.certificateArn,
    graphApiBaseUrl: options.graphApiBaseUrl,
    bitrixOauthUrl: options.bitrixOauthUrl,
  });
  return { stateful, stateless };
}
