import { describe, expect, it } from "vitest";
import { routes } from "#shared/resources.ts";
import { matchGatewayRoute } from "../../local/gateway.ts";

describe("local gateway routing (API Gateway's most-specific-route rule)", () => {
  it.each([
    ["GET", "/api/admin/phones/106540352242922/calling", "calling-api"],
    ["PUT", "/api/admin/phones/106540352242922/calling/", "calling-api"],
    ["GET", "/api/admin/phones/106540352242922", "admin-api"],
    ["POST", "/api/admin/phones/106540352242922/calling", "admin-api"],
    ["GET", "/api/admin/apps", "admin-api"],
    ["POST", "/api/waba/", "waba-webhook"],
  ])("%s %s goes to %s", (method, path, target) => {
    expect(matchGatewayRoute(routes, method, path)?.target).toBe(target);
  });
});
