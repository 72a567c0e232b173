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

/**
 * What a Bitrix24 OAuth server's `app.info` says about a token: whose app it is and, in `install`, the
 * portal it was issued on. Verifies installs without trusting the request.
 */
export interface BitrixAppInfo {
  readonly clientId: string;
  /** `install.member_id`: the portal (absent from the answer's top level). */
  readonly memberId?: string;
  /** `install.domain` / `install.client_endpoint`: where that portal lives. */
  readonly domain?: string;
  readonly clientEndpoint?: string;
  readonly installed?: boolean;
  readonly userId?: number;
  /** `expires`: Unix seconds at which the access token ends, when the server says. */
  readonly expiresAt?: number;
}

export interface BitrixOAuth {
  /** `{server}/rest/app.info` on one of our trusted OAuth servers. @throws BitrixApiError */
  appInfo(server: string, accessToken: string): Promise<BitrixAppInfo>;
  /** The portal's own `app.info` (`{client_endpoint}app.info`): its licence, for REST pacing. */
  portalLicense(clientEndpoint: string, accessToken: string): Promise<{ licenseFamily?: string }>;
  /** `user.admin` on the portal with a token we do not store yet: is its user a portal administrator? */
  isAdmin(clientEndpoint: string, accessToken: string): Promise<boolean>;
  /** New tokens from `{server}/oauth/token/`, with what that server says about their portal. */
  refresh(
    server: string,
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
