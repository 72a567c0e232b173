/**
 * The counts the functions publish (CloudWatch metrics; the dashboard and alarms read them). Names are
 * per flow; the `Service` dimension (the function) tells the direction apart, `Portal` the customer.
 */
export const metricNames = {
  inboundDelivered: "InboundDelivered",
  inboundDuplicate: "InboundDuplicate",
  inboundFailed: "InboundFailed",
  outboundSent: "OutboundSent",
  outboundFailed: "OutboundFailed",
  deadLettered: "DeadLettered",
  bitrixTimeouts: "BitrixTimeouts",
  /** Messages of such sends found in their Open Lines session afterwards, so not sent again. */
  bitrixFoundLanded: "BitrixFoundLanded",
  /** Sends to Meta whose answer was lost: Meta may have taken them, and their retry may go twice. */
  graphTimeouts: "GraphTimeouts",
  tokenRefreshes: "TokenRefreshes",
  rateLimitWaits: "RateLimitWaits",
  webhookSignatureFailures: "WebhookSignatureFailures",
  /** Webhook entries or changes naming a WABA or number that is not the signing app's (dropped). */
  webhookForeignParts: "WebhookForeignParts",
} as const;

export type MetricName = (typeof metricNames)[keyof typeof metricNames];

export const metricDimensions = { service: "Service", portal: "Portal" } as const;

export interface Metrics {
  /** Adds `value` to the metric, for the function and, when given, for one Bitrix24 portal too. */
  count(name: MetricName, value?: number, options?: { readonly portal?: string | undefined }): void;
}

/** For callers that publish nothing (unit tests, benchmarks). */
export const noMetrics: Metrics = { count: () => undefined };
