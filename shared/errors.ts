/**
 * The small hierarchy every layer throws; HTTP handlers map it to status codes in one place
 * (shared/http.ts) and workers decide retry vs. dead letter from `transient`.
 */
export class AppError extends Error {
  readonly code: string;
  readonly status: number;
  readonly details?: unknown;
  constructor(code: string, status: number, message: string, details?: unknown) {
    super(message);
    this.name = "AppError";
    this.code = code;
    this.status = status;
    this.details = details;
  }
}

export class ValidationError extends AppError {
  constructor(message: string, details?: unknown) {
    super("invalid_request", 400, message, details);
    this.name = "ValidationError";
  }
}

export class PayloadTooLargeError extends AppError {
  constructor(message: string) {
    super("payload_too_large", 413, message);
    this.name = "PayloadTooLargeError";
  }
}

export class UnauthorizedError extends AppError {
  constructor(message = "Missing or wrong credentials") {
    super("unauthorized", 401, message);
    this.name = "UnauthorizedError";
  }
}

export class ForbiddenError extends AppError {
  constructor(message: string) {
    super("forbidden", 403, message);
    this.name = "ForbiddenError";
  }
}

export class NotFoundError extends AppError {
  constructor(message: string) {
    super("not_found", 404, message);
    this.name = "NotFoundError";
  }
}

export class ConflictError extends AppError {
  constructor(message: string) {
    super("conflict", 409, message);
    this.name = "ConflictError";
  }
}

/** A failure of Meta's Graph API, with Meta's own code; `transient` ones are worth retrying. */
export class GraphApiError extends AppError {
  readonly graphCode: number | undefined;
  readonly transient: boolean;
  constructor(httpStatus: number, graphCode: number | undefined, message: string, details?: unknown) {
    super("graph_api_error", 502, message, details);
    this.name = "GraphApiError";
    this.graphCode = graphCode;
    this.transient = isTransientGraphFailure(httpStatus, graphCode);
  }
}

/** Throughput limits, pair rate limits, Meta's own service errors and 5xx/timeouts pass with time. */
// 131057: the account is in maintenance mode (a throughput upgrade takes about a minute).
const TRANSIENT_GRAPH_CODES = new Set([1, 2, 4, 17, 80007, 130429, 131000, 131016, 131056, 131057, 133004]);

function isTransientGraphFailure(httpStatus: number, graphCode: number | undefined): boolean {
  if (graphCode !== undefined && TRANSIENT_GRAPH_CODES.has(graphCode)) return true;
  return httpStatus === 0 || httpStatus === 429 || httpStatus >= 500;
}

/** Bitrix24 REST errors (`{error, error_description}`), with the retry decision made once, here. */
export class BitrixApiError extends AppError {
  readonly bitrixCode: string;
  readonly httpStatus: number;
  readonly transient: boolean;
  constructor(httpStatus: number, bitrixCode: string, message: string) {
    super("bitrix_api_error", 502, `Bitrix24: ${bitrixCode}${message ? ` — ${message}` : ""}`);
    this.name = "BitrixApiError";
    this.bitrixCode = bitrixCode;
    this.httpStatus = httpStatus;
    this.transient = isTransientBitrixFailure(httpStatus, bitrixCode);
  }
}

/** Rate limits, time budgets, Bitrix's own overload and server errors, timeouts (status 0) pass with time. */
const TRANSIENT_BITRIX_CODES = new Set([
  // Still expired after a refresh: another worker refreshed in between; the next attempt refreshes again.
  "expired_token",
  "invalid_token",
  "TOKEN_REFRESH_BUSY",
  "QUERY_LIMIT_EXCEEDED",
  "OPERATION_TIME_LIMIT",
  "OVERLOAD_LIMIT",
  "INTERNAL_SERVER_ERROR",
  "ERROR_UNEXPECTED_ANSWER",
  "CONNECTION_ERROR",
]);

function isTransientBitrixFailure(httpStatus: number, code: string): boolean {
  if (TRANSIENT_BITRIX_CODES.has(code)) return true;
  if (code === "PORTAL_DELETED") return false;
  return httpStatus === 0 || httpStatus === 429 || httpStatus >= 500;
}

/**
 * A shared rate budget (a Bitrix24 portal's) would need a longer wait than the caller may block for;
 * `transient`: the message is retried later, when the bucket has refilled.
 */
export class RateLimitWaitError extends AppError {
  readonly transient = true;
  constructor(message: string, details?: unknown) {
    super("rate_limited", 503, message, details);
    this.name = "RateLimitWaitError";
  }
}
