import { Validations } from "aws-cdk-lib";
import type { IConstruct } from "constructs";

/**
 * Records why a cdk-nag rule does not apply to a construct (and its children). The synth test runs the
 * AwsSolutions and Serverless packs; every finding is either fixed or acknowledged here with a reason.
 */
export function acknowledge(scope: IConstruct, id: string, reason: string): void {
  Validations.of(scope).acknowledge({ id, reason });
}

const basicExecutionRole =
  "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]";

/** A function's managed log-writing policy: it grants CreateLogGroup/PutLogEvents and nothing else. */
export function acknowledgeBasicExecutionRole(fn: IConstruct): void {
  acknowledge(
    fn,
    basicExecutionRole,
    "AWS's basic execution policy only lets the function write its own logs",
  );
}

/**
 * The custom resource behind the generated secret keys (our function, or CDK's provider framework
 * around it): runs at deploy time, not on traffic.
 */
export function acknowledgeDeployTimeFunction(fn: IConstruct, sizedByCdk = false): void {
  acknowledgeBasicExecutionRole(fn);
  const reasons: Record<string, string> = {
    "Serverless-LambdaDLQ": "Deploy-time custom resource: CloudFormation reports its failure",
    "Serverless-LambdaTracing": "Deploy-time custom resource: runs once per deployment, nothing to trace",
    ...(sizedByCdk
      ? { "Serverless-LambdaDefaultMemorySize": "CDK's own provider framework function, sized by CDK" }
      : {}),
  };
  for (const [id, reason] of Object.entries(reasons)) acknowledge(fn, id, reason);
}
