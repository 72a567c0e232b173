/**
 * The embedded-metric-format lines (what CloudWatch Logs turns into metrics) among a local stack's log
 * lines: the functions write them where their log lines go, stdout in Lambda, the stack's log here.
 * `from` skips the lines logged before a point of the test.
 */
export function metricLines(logs: readonly string[], from = 0): Record<string, unknown>[] {
  return logs
    .slice(from)
    .flatMap((chunk) => chunk.split("\n"))
    .filter((line) => line.includes('"_aws"'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** The sum of one metric over the captured lines. */
export function metricSum(lines: Record<string, unknown>[], name: string): number {
  return lines.reduce((sum, line) => sum + (typeof line[name] === "number" ? (line[name] as number) : 0), 0);
}
