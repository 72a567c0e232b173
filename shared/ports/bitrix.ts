/** One call inside a `batch` request. */
export interface BatchCall {
  readonly method: string;
  readonly params?: Record<string, unknown>;
}

export interface BatchResult {
  readonly result: Record<string, unknown>;
  /** Per-command errors, keyed like the commands; HTTP is 200 even when some failed. */
  readonly errors: Record<string, { error: string; error_description?: string }>;
}

/** Bitrix24 REST on behalf of an installed portal; token refresh and error typing live behind it. */
export interface BitrixGateway {
  /** `result` of the method. @throws BitrixApiError */
  call<T = unknown>(memberId: string, method: string, params?: Record<string, unknown>): Promise<T>;
  /** Up to 50 calls in one request; `halt` stops at the first failing command. */
  batch(memberId: string, calls: Record<string, BatchCall>, halt?: boolean): Promise<BatchResult>;
}

/** What the Bitrix OAuth server says about a token: verifies installs without trusting the request. */
export interface BitrixAppInfo {
  readonly clientId: string;
  readonly memberId?: string;
  readonly licenseFamily?: string;
  readonly installed?: boolean;
}

export interface BitrixOAuth {
  appInfo(accessToken: string): Promise<BitrixAppInfo>;
  /** `user.admin` on the portal with a token we do not store yet: is its user a portal administrator? */
  isAdmin(clientEndpoint: string, accessToken: string): Promise<boolean>;
  /** New tokens, with what the OAuth server (not the request) says about the portal they belong to. */
  refresh(
    clientId: string,
    clientSecret: string,
    refreshToken: string,
  ): Promise<{
    accessToken: string;
    refreshToken: string;
    expiresIn: number;
    memberId?: string;
    clientEndpoint?: string;
  }>;
}

/**
 * REST calls with the token of the user who opened one of the app's pages, at the portal's stored REST
 * address: what that user may see and do (their chats, their messages), not what the app may.
 */
export interface BitrixUserRest {
  call(
    clientEndpoint: string,
    accessToken: string,
    method: string,
    params: Record<string, unknown>,
  ): Promise<unknown>;
}
