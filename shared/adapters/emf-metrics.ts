import { writeLogLine } from "../logger.ts";
import { type Metrics, metricDimensions } from "../ports/metrics.ts";

/**
 * Counts written as CloudWatch embedded-metric-format lines: one JSON line on stdout per count, which
 * CloudWatch Logs turns into a metric with no API call. The shape is AWS's "Embedded metric format
 * specification": an `_aws` member naming the namespace, dimension sets and metrics, the values as
 * top-level members of the same line. Lines go where log lines go (stdout in Lambda), so a local stack
 * with a log of its own keeps them there too.
 * Written by hand rather than with Powertools Metrics, which adds about 15 KB to a bundle for this.
 */
export interface EmfMetricsOptions {
  readonly namespace?: string;
  readonly write?: (line: string) => void;
  readonly now?: () => number;
}

export function makeEmfMetrics(service: string, options: EmfMetricsOptions = {}): Metrics {
  const namespace = options.namespace ?? process.env.METRICS_NAMESPACE ?? "SeparatorWaba";
  const write = options.write ?? writeLogLine;
  const now = options.now ?? Date.now;
  return {
    count(name, value = 1, { portal } = {}) {
      // Portals are few per deployment (each is a customer), so a per-portal series stays affordable.
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
