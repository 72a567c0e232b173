/**
 * Base of the loopback HTTP fakes (Meta Graph API, Bitrix24): a `node:http` server on 127.0.0.1 that
 * records every request it receives and can be told to misbehave (fault queue) before the subclass
 * answers normally. Integration tests point the product at `fake.url` and then assert on `fake.requests`.
 */
import type { IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from "node:http";
import { createServer } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import qs from "qs";

/** One request as the fake received it. `rawBody` is the body decoded as UTF-8, `bodyBytes` the exact bytes. */
export interface RecordedRequest {
  method: string;
  /** Path without the query string, e.g. `/v23.0/1234/messages`. */
  path: string;
  /** Query string parameters (last value wins), as `Object.fromEntries(new URLSearchParams(...))`. */
  query: Record<string, string>;
  /** The raw query string without the leading `?` (PHP-style keys need `qs.parse` on this). */
  queryString: string;
  headers: IncomingHttpHeaders;
  rawBody: string;
  bodyBytes: Buffer;
  /** Parsed body when the content type is JSON and it parsed. */
  json?: unknown;
  /** Parsed body (qs, depth 20) when the content type is `application/x-www-form-urlencoded`. */
  form?: Record<string, unknown>;
  /** Arrival time in epoch milliseconds, from the fake's clock. */
  at: number;
  /** Set when an injected fault answered this request instead of the fake's normal handling. */
  fault?: "status" | "timeout" | "reset" | "landed-then-hung";
  /** For `landed-then-hung`: the status the fake's handling produced (the client never saw it). */
  landedStatus?: number;
}

/** A normal answer. `body`: Buffer/string sent as is, anything else JSON-encoded. */
export interface FakeResponse {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** Wait this long before answering (a slow upstream, shorter than a full timeout). */
  delayMs?: number;
}

/**
 * `landThenHang`: the request is handled normally (its effect happens) but the answer never comes — the
 * case where a client times out after the server did the work, and a retry may duplicate it.
 */
export type FaultResponse =
  | FakeResponse
  | { timeout: true }
  | { resetConnection: true }
  | { landThenHang: true };

/** A predicate, a path prefix (`"/rest/imconnector."`), or a RegExp tested against the path. */
export type RequestMatcher = ((req: RecordedRequest) => boolean) | string | RegExp;

export interface Fault {
  match: RequestMatcher;
  /** How many matching requests the fault answers (default 1; `Infinity` for all). */
  times?: number;
  /**
   * `{ timeout: true }` never answers (the socket stays open until the client gives up or the fake closes);
   * `{ resetConnection: true }` destroys the socket (the client sees ECONNRESET / "socket hang up").
   */
  response: FaultResponse;
}

export interface HttpFakeOptions {
  /** Clock in epoch milliseconds (default `Date.now`); stamps `at`, and drives token/URL expiry in subclasses. */
  now?: () => number;
  /** Port to listen on (default: a free one). `npm run fakes` uses fixed ports for hand testing. */
  port?: number;
}

export type RequestHandler = (req: RecordedRequest) => FakeResponse | Promise<FakeResponse>;

interface PendingFault {
  match: RequestMatcher;
  remaining: number;
  response: FaultResponse;
}

interface Waiter {
  match: RequestMatcher;
  resolve: (req: RecordedRequest) => void;
}

export function matches(matcher: RequestMatcher, req: RecordedRequest): boolean {
  if (typeof matcher === "string") return req.path.startsWith(matcher);
  if (matcher instanceof RegExp) {
    matcher.lastIndex = 0;
    return matcher.test(req.path);
  }
  return matcher(req);
}

/**
 * The recording server. Use `startHttpFake(handler)` for a one-off fake, or extend the class and override
 * `handle()` (as the Meta and Bitrix fakes do).
 */
export class HttpFake {
  /** `http://127.0.0.1:<port>`, set once listening. */
  url = "";
  /** Every request received, oldest first (including those answered by faults). */
  readonly requests: RecordedRequest[] = [];
  /** Exceptions thrown by the fake's own handler (answered with 500); a test should expect this to be empty. */
  readonly errors: unknown[] = [];
  protected readonly now: () => number;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #faults: PendingFault[] = [];
  readonly #waiters: Waiter[] = [];
  readonly #handler: RequestHandler | undefined;
  readonly #port: number;

  constructor(handler?: RequestHandler, options: HttpFakeOptions = {}) {
    this.#handler = handler;
    this.now = options.now ?? Date.now;
    this.#port = options.port ?? 0;
    this.#server = createServer((req, res) => {
      this.#onRequest(req, res).catch((error: unknown) => {
        // A client that gives up mid-request is not the fake's fault; anything else is.
        if ((error as NodeJS.ErrnoException).code !== "ECONNRESET" && !req.destroyed) this.errors.push(error);
      });
    });
    this.#server.on("connection", (socket) => {
      this.#sockets.add(socket);
      socket.on("close", () => this.#sockets.delete(socket));
    });
  }

  /** Starts listening on 127.0.0.1 (on a free port unless one was given). */
  async listen(): Promise<this> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once("error", reject);
      this.#server.listen(this.#port, "127.0.0.1", () => {
        this.#server.off("error", reject);
        resolve();
      });
    });
    const { port } = this.#server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${port}`;
    return this;
  }

  /** Queue a fault; faults are checked in the order they were injected, before normal handling. */
  inject(fault: Fault): void {
    this.#faults.push({ match: fault.match, remaining: fault.times ?? 1, response: fault.response });
  }

  /** Number of faults still armed. */
  get pendingFaults(): number {
    return this.#faults.reduce((n, f) => n + (f.remaining > 0 ? 1 : 0), 0);
  }

  /** Recorded requests whose path starts with the prefix or matches the RegExp (or the predicate). */
  requestsTo(match: RequestMatcher): RecordedRequest[] {
    return this.requests.filter((r) => matches(match, r));
  }

  /** Resolves with the first recorded request that matches — already received or arriving within `timeoutMs`. */
  waitForRequest(match: RequestMatcher, timeoutMs = 2000): Promise<RecordedRequest> {
    const seen = this.requests.find((r) => matches(match, r));
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        match,
        resolve: (req) => {
          clearTimeout(timer);
          resolve(req);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        reject(new Error(`no request matching ${String(match)} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  /** Forgets recorded requests, handler errors and pending faults. Subclasses also clear their recordings. */
  reset(): void {
    this.requests.length = 0;
    this.errors.length = 0;
    this.#faults.length = 0;
  }

  /** Stops the server, destroying open sockets (including requests held by `{ timeout: true }`). */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const socket of this.#sockets) socket.destroy();
    this.#server.closeAllConnections();
    await closed;
  }

  /** Normal handling; subclasses override. The default answers 404. */
  protected handle(req: RecordedRequest): FakeResponse | Promise<FakeResponse> {
    if (this.#handler) return this.#handler(req);
    return { status: 404, body: { error: "not found", path: req.path } };
  }

  async #onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const recorded = await readRequest(req, this.now());
    this.requests.push(recorded);
    for (const waiter of [...this.#waiters]) {
      if (matches(waiter.match, recorded)) {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        waiter.resolve(recorded);
      }
    }

    const fault = this.#takeFault(recorded);
    if (fault) {
      if ("timeout" in fault) {
        recorded.fault = "timeout";
        return; // never answered; close() destroys the socket
      }
      if ("landThenHang" in fault) {
        recorded.fault = "landed-then-hung";
        try {
          recorded.landedStatus = (await this.handle(recorded)).status;
        } catch (error) {
          this.errors.push(error);
        }
        return; // the work is done; the answer never comes
      }
      if ("resetConnection" in fault) {
        recorded.fault = "reset";
        req.socket.resetAndDestroy();
        return;
      }
      recorded.fault = "status";
      await send(res, fault);
      return;
    }

    let response: FakeResponse;
    try {
      response = await this.handle(recorded);
    } catch (error) {
      this.errors.push(error);
      response = { status: 500, body: { error: "fake handler crashed", message: String(error) } };
    }
    await send(res, response);
  }

  #takeFault(req: RecordedRequest): FaultResponse | undefined {
    for (const fault of this.#faults) {
      if (fault.remaining > 0 && matches(fault.match, req)) {
        fault.remaining -= 1;
        if (fault.remaining === 0) this.#faults.splice(this.#faults.indexOf(fault), 1);
        return fault.response;
      }
    }
    return undefined;
  }
}

/** A generic recording fake answering with `handler` (default: 404 for everything). */
export async function startHttpFake(handler?: RequestHandler, options?: HttpFakeOptions): Promise<HttpFake> {
  return new HttpFake(handler, options).listen();
}

async function readRequest(req: IncomingMessage, at: number): Promise<RecordedRequest> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const bodyBytes = Buffer.concat(chunks);
  const rawBody = bodyBytes.toString("utf8");
  const target = req.url ?? "/";
  const q = target.indexOf("?");
  const path = q === -1 ? target : target.slice(0, q);
  const queryString = q === -1 ? "" : target.slice(q + 1);
  const recorded: RecordedRequest = {
    method: req.method ?? "GET",
    path,
    query: Object.fromEntries(new URLSearchParams(queryString)),
    queryString,
    headers: req.headers,
    rawBody,
    bodyBytes,
    at,
  };
  const contentType = (req.headers["content-type"] ?? "").toLowerCase();
  if (rawBody.length > 0 && contentType.includes("json")) {
    try {
      recorded.json = JSON.parse(rawBody);
    } catch {
      // left undefined: the fake answers with its own "bad JSON" error
    }
  } else if (contentType.startsWith("application/x-www-form-urlencoded")) {
    recorded.form = parseForm(rawBody);
  }
  return recorded;
}

/** PHP-style form parsing as Bitrix24 bodies need it (qs's default depth of 5 silently truncates). */
export function parseForm(body: string): Record<string, unknown> {
  return qs.parse(body, { depth: 20, arrayLimit: 1000, parameterLimit: 100_000 }) as Record<string, unknown>;
}

async function send(res: ServerResponse, response: FakeResponse): Promise<void> {
  if (response.delayMs && response.delayMs > 0) {
    await new Promise((resolve) => setTimeout(resolve, response.delayMs));
  }
  if (res.destroyed) return;
  const headers: Record<string, string> = {};
  let payload: Buffer | string | undefined;
  const { body } = response;
  if (body === undefined) {
    payload = undefined;
  } else if (Buffer.isBuffer(body)) {
    payload = body;
    headers["content-type"] = "application/octet-stream";
  } else if (typeof body === "string") {
    payload = body;
    headers["content-type"] = "text/plain; charset=utf-8";
  } else {
    payload = JSON.stringify(body);
    headers["content-type"] = "application/json; charset=utf-8";
  }
  for (const [name, value] of Object.entries(response.headers ?? {})) headers[name.toLowerCase()] = value;
  res.writeHead(response.status, headers);
  res.end(payload);
}

/**
 * Seeded PRNG (mulberry32): the same seed gives the same sequence of floats in [0, 1), so fault schedules
 * ("fail ~10% of sends") replay identically in CI.
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
