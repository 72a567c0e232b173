/**
 * Counters written as CloudWatch embedded-metric-format lines (one JSON log line per count, which
 * CloudWatch Logs turns into a metric; no API call, no extra dependency). The format is AWS's "Embedded
 * metric format specification": an `_aws` object naming namespace, dimension sets and metrics, with the
 * values as top-level members of the same line.
 * Hand-written rather than Powertools Metrics: bench/ measures what the library would add to each bundle.
 */
export const metricNames = {
  inboundDelivered: "InboundDelivered",
  inboundDuplicate: "InboundDuplicate",
  inboundFailed: "InboundFailed",
  outboundSent: "OutboundSent",
  outboundFailed: "OutboundFailed",
  deadLettered: "DeadLettered",
  bitrixTimeouts: "BitrixTimeouts",
  tokenRefreshes: "TokenRefreshes",
  rateLimitWaits: "RateLimitWaits",
  webhookSignatureFailures: "WebhookSignatureFailures",
} as const;

export type MetricName = (typeof metricNames)[keyof typeof metricNames];

export const metricDimensions = { service: "Service", portal: "Portal" } as const;

export interface Metrics {
  /** Adds `value` to the metric, for the function and, when given, for one Bitrix24 portal too. */
  count(name: MetricName, value?: number, options?: { readonly portal?: string | undefined }): void;
}

export interface MetricsOptions {
  readonly namespace?: string;
  readonly write?: (line: string) => void;
  readonly now?: () => number;
}

export function makeMetrics(service: string, options: MetricsOptions = {}): Metrics {
  const namespace = options.namespace ?? process.env.METRICS_NAMESPACE ?? "SeparatorWaba";
  const write = options.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  const now = options.now ?? Date.now;
  return {
    count(name, value = 1, { portal } = {}) {
      // Portal ids are few per deployment (each is one customer): a per-portal series stays affordable.
      const dimensions = portal
        ? [[metricDimensions.service], [metricDimensions.service, metricDimensions.portal]]
        : [[metricDimensions.service]];
      write(
        JSON.stringify({
          _aws: {
            Timestamp: now(),
            CloudWatchMetrics: [
              { Namespace: namespace, Dimensions: dimensions, Metrics: [{ Name: name, Unit: "Count" }] },
            ],
          },
          [metricDimensions.service]: service,
          ...(portal ? { [metricDimensions.portal]: portal } : {}),
          [name]: value,
        }),
      );
    },
  };
}
