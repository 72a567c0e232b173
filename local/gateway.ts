import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from "aws-lambda";
import type { FunctionName, RouteDef } from "#shared/resources.ts";

export type HttpHandler = (event: APIGatewayProxyEventV2, context: Context) => Promise<unknown>;

const TEXT_TYPES = /^(text\/|application\/(json|[\w.+-]*\+json|x-www-form-urlencoded|xml|javascript))/i;

/**
 * Matches a request to an API Gateway HTTP API route, the most specific first as API Gateway does: an
 * exact path, then one with `{name}` segments, then `{proxy+}` (which takes the rest of the path).
 */
export function matchGatewayRoute(
  routes: readonly RouteDef[],
  method: string,
  rawPath: string,
): RouteDef | undefined {
  // Like API Gateway, a trailing slash does not make another route.
  const path = rawPath.length > 1 ? rawPath.replace(/\/+$/, "") : rawPath;
  const methodMatches = (r: RouteDef) => r.method === method || r.method === "ANY";
  const exact = routes.find((r) => r.path === path && methodMatches(r));
  if (exact) return exact;
  const templated = routes.find(
    (r) => methodMatches(r) && !r.path.endsWith("{proxy+}") && pathParameters(r.path, path),
  );
  if (templated) return templated;
  return routes.find((r) => {
    if (!r.path.endsWith("/{proxy+}") || (r.method !== method && r.method !== "ANY")) return false;
    const prefix = r.path.slice(0, -"{proxy+}".length);
    return path.startsWith(prefix) && path.length > prefix.length;
  });
}

/** The `{name}` segments of a route path template, when `path` fits it (undefined otherwise). */
function pathParameters(template: string, path: string): Record<string, string> | undefined {
  const want = template.split("/");
  const got = path.split("/");
  if (want.length !== got.length) return undefined;
  const params: Record<string, string> = {};
  for (const [i, w] of want.entries()) {
    const g = got[i] ?? "";
    if (w.startsWith("{") && w.endsWith("}")) {
      if (!g) return undefined;
      params[w.slice(1, -1)] = g;
    } else if (w !== g) return undefined;
  }
  return params;
}

/**
 * Turns a Node request into the HTTP API payload v2.0 event API Gateway would send: lower-cased headers,
 * raw query string, body as text or base64, the host in requestContext.domainName.
 */
export function toGatewayEvent(req: IncomingMessage, body: Buffer, route: RouteDef): APIGatewayProxyEventV2 {
  const url = new URL(req.url ?? "/", "http://localhost");
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (v !== undefined) headers[k.toLowerCase()] = Array.isArray(v) ? v.join(",") : v;
  }
  const query: Record<string, string> = {};
  for (const [k, v] of url.searchParams) query[k] = k in query ? `${query[k]},${v}` : v;
  const method = req.method ?? "GET";
  const textual = body.length === 0 || TEXT_TYPES.test(headers["content-type"] ?? "");
  const now = new Date();
  const host = headers.host ?? "localhost";
  // API Gateway adds these; the local gateway speaks plain HTTP.
  headers["x-forwarded-proto"] ??= "http";
  headers["x-forwarded-port"] ??= String(req.socket.localPort ?? "");
  headers["x-forwarded-for"] ??= req.socket.remoteAddress ?? "127.0.0.1";
  return {
    version: "2.0",
    routeKey: `${route.method} ${route.path}`,
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    headers,
    queryStringParameters: Object.keys(query).length ? query : undefined,
    pathParameters: route.path.endsWith("{proxy+}")
      ? { proxy: url.pathname.slice(route.path.length - "{proxy+}".length) }
      : pathParameters(route.path, url.pathname.replace(/(.)\/+$/, "$1")),
    requestContext: {
      accountId: "000000000000",
      apiId: "local",
      domainName: host.replace(/:\d+$/, ""),
      domainPrefix: host.split(".")[0] ?? host,
      http: {
        method,
        path: url.pathname,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp: req.socket.remoteAddress ?? "127.0.0.1",
        userAgent: headers["user-agent"] ?? "",
      },
      requestId: randomUUID(),
      routeKey: `${route.method} ${route.path}`,
      stage: "$default",
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
    body: body.length ? body.toString(textual ? "utf8" : "base64") : undefined,
    isBase64Encoded: !textual,
  };
}

export function lambdaContext(functionName: string, timeoutSeconds: number): Context {
  const deadline = Date.now() + timeoutSeconds * 1000;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: "$LATEST",
    invokedFunctionArn: `arn:aws:lambda:us-east-1:000000000000:function:${functionName}`,
    memoryLimitInMB: "256",
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: "local",
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

export interface GatewayOptions {
  readonly routes: readonly RouteDef[];
  readonly handlerFor: (name: FunctionName) => Promise<{ handler: HttpHandler; timeoutSeconds: number }>;
  readonly log: (line: string) => void;
}

/** The local API Gateway: routes requests to the same handler modules Lambda runs. */
export function createGateway({ routes, handlerFor, log }: GatewayOptions): Server {
  return createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const started = performance.now();
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const path = new URL(req.url ?? "/", "http://localhost").pathname;
    const route = matchGatewayRoute(routes, req.method ?? "GET", path);
    let status = 404;
    try {
      if (!route) {
        send(res, {
          statusCode: 404,
          headers: { "content-type": "application/json" },
          body: '{"message":"Not Found"}',
        });
        return;
      }
      const { handler, timeoutSeconds } = await handlerFor(route.target);
      const result = toStructured(
        await handler(toGatewayEvent(req, body, route), lambdaContext(route.target, timeoutSeconds)),
      );
      status = result.statusCode ?? 200;
      send(res, result);
    } catch (error) {
      status = 500;
      log(`gateway: handler threw: ${(error as Error).stack ?? String(error)}`);
      send(res, {
        statusCode: 500,
        headers: { "content-type": "application/json" },
        body: '{"message":"Internal Server Error"}',
      });
    } finally {
      log(`${req.method} ${path} → ${status} (${(performance.now() - started).toFixed(1)} ms)`);
    }
  });
}

/** API Gateway's rule: a result without statusCode is a 200 JSON body. */
function toStructured(result: unknown): APIGatewayProxyStructuredResultV2 {
  if (result && typeof result === "object" && "statusCode" in result)
    return result as APIGatewayProxyStructuredResultV2;
  return {
    statusCode: 200,
    headers: { "content-type": "application/json" },
    body: typeof result === "string" ? result : JSON.stringify(result),
  };
}

function send(res: ServerResponse, result: APIGatewayProxyStructuredResultV2): void {
  const headers: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(result.headers ?? {})) headers[k] = String(v);
  if (result.cookies?.length) headers["set-cookie"] = result.cookies;
  res.writeHead(result.statusCode ?? 200, headers);
  res.end(
    result.body === undefined
      ? undefined
      : Buffer.from(result.body, result.isBase64Encoded ? "base64" : "utf8"),
  );
}
