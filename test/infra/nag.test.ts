import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { App, Validations } from "aws-cdk-lib";
import { AwsSolutionsChecks, ServerlessChecks } from "cdk-nag";
import { afterAll, describe, expect, it } from "vitest";
import { type AppOptions, buildApp } from "../../infra/build-app.ts";

const outdirs: string[] = [];
afterAll(() => {
  for (const dir of outdirs) rmSync(dir, { recursive: true, force: true });
});

/** Synthesizes with cdk-nag's AwsSolutions and Serverless packs; a finding not acknowledged fails synth. */
function synthWithNag(options: AppOptions) {
  const outdir = mkdtempSync(path.join(tmpdir(), "separator-waba-nag-"));
  outdirs.push(outdir);
  const app = new App({ outdir, context: { "aws:cdk:bundling-stacks": [] } });
  buildApp(app, options);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ServerlessChecks(app));
  return { app, synth: () => app.synth() };
}

function acknowledgements(app: App): { path: string; id: string; reason: string }[] {
  return app.node.findAll().flatMap((c) =>
    c.node.metadata
      .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      // Recorded as `{ "<kind>::<rule id>": reason }`.
      .flatMap((m) => Object.entries(m.data as Record<string, string>))
      .map(([id, reason]) => ({ path: c.node.path, id: id.replace(/^\w+::/, ""), reason })),
  );
}

describe("cdk-nag (AwsSolutions and Serverless packs)", () => {
  it.each<[string, AppOptions]>([
    ["the default deployment", { alarmEmail: "ops@example.com" }],
    [
      "a staged one with a custom domain",
      {
        stage: "prod",
        alarmEmail: "ops@example.com",
        domainName: "waba.example.com",
        certificateArn: "arn:aws:acm:eu-central-2:123456789012:certificate/example",
      },
    ],
  ])("reports no finding that is not fixed or acknowledged, for %s", (_name, options) => {
    const { synth } = synthWithNag(options);
    expect(synth).not.toThrow();
  });

  it("gives every acknowledgement a one-line reason", () => {
    const { app, synth } = synthWithNag({ alarmEmail: "ops@example.com" });
    synth();
    const acks = acknowledgements(app);
    expect(acks.length).toBeGreaterThan(0);
    for (const ack of acks) {
      expect(ack.id, ack.path).toMatch(/^(AwsSolutions|Serverless)-/);
      expect(ack.reason.length, `${ack.path} ${ack.id}`).toBeGreaterThan(20);
      expect(ack.reason, `${ack.path} ${ack.id}`).not.toMatch(/\n/);
    }
  });
});
