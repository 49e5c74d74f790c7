/**
 * The stable error codes of the API (docs/PROTOCOL.md, "Errors").
 */
export type ApiErrorCode =
  | "not_found"
  | "invalid_request"
  | "unauthorized"
  | "forbidden"
  | "views_exhausted"
  | "session_expired"
  | "session_revoked"
  | "key_used"
  | "key_expired"
  | "device_mismatch"
  | "conflict"
  | "payload_too_large"
  | "rate_limited"
  | "unavailable"
  | "internal";

/**
 * Codes the client adds for failures that are not an answer of the API:
 * `network_error` (the request did not complete), `storage_refused` (the
 * object store refused a presigned upload or a signed download),
 * `bad_response` (an answer that is not what the protocol says),
 * `integrity_error` (a downloaded ciphertext whose size or SHA-256 is not the
 * one the patient uploaded), `decrypt_failed` (a ciphertext or sealed key that
 * does not open) and `unsupported` (a KEM, suite or format this client does
 * not speak).
 */
export type ClientErrorCode =
  | "network_error"
  | "storage_refused"
  | "bad_response"
  | "integrity_error"
  | "decrypt_failed"
  | "unsupported";

/** Every code a {@link MedShareError} can carry. */
export type ErrorCode = ApiErrorCode | ClientErrorCode;

/** The API's error codes, as a set (anything else from the server is mapped by status). */
export const API_ERROR_CODES: ReadonlySet<string> = new Set<ApiErrorCode>([
  "not_found",
  "invalid_request",
  "unauthorized",
  "forbidden",
  "views_exhausted",
  "session_expired",
  "session_revoked",
  "key_used",
  "key_expired",
  "device_mismatch",
  "conflict",
  "payload_too_large",
  "rate_limited",
  "unavailable",
  "internal",
]);

/** Fields of a {@link MedShareError}. */
export interface MedShareErrorInit {
  code: ErrorCode;
  message: string;
  /** HTTP status of the answer; 0 when there was none (network or client-side failure). */
  status?: number | undefined;
  /** The server's `request_id` (or `X-Request-Id`), when it sent one. */
  requestId?: string | undefined;
  /** Seconds to wait before trying again, from `Retry-After` (429 and 503). */
  retryAfter?: number | undefined;
  cause?: unknown;
}

/**
 * The one error type the client throws for a failed operation: an error answer
 * of the API (`code`, `message` and `requestId` as the server sent them, and the
 * HTTP `status`) or a failure on the client's side (see {@link ClientErrorCode},
 * `status` 0 unless the object store answered).
 *
 * ```ts
 * try { await client.viewPhoto(device, access, photoId); }
 * catch (e) {
 *   if (isMedShareError(e, "views_exhausted")) showNoViewsLeft();
 *   else if (isMedShareError(e, "rate_limited")) retryIn(e.retryAfter ?? 1);
 *   else throw e;
 * }
 * ```
 */
export class MedShareError extends Error {
  /** The stable code; branch on this, never on `message`. */
  readonly code: ErrorCode;
  /** HTTP status; 0 when no HTTP answer is behind the error. */
  readonly status: number;
  /** The server's request id, for support; "" when none was sent. */
  readonly requestId: string;
  /** Seconds to wait before retrying (from `Retry-After`), when the server said. */
  readonly retryAfter: number | undefined;

  constructor(init: MedShareErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = "MedShareError";
    this.code = init.code;
    this.status = init.status ?? 0;
    this.requestId = init.requestId ?? "";
    this.retryAfter = init.retryAfter;
  }
}

/** Reports whether e is a {@link MedShareError}, optionally with one of the given codes. */
export function isMedShareError(e: unknown, ...codes: ErrorCode[]): e is MedShareError {
  return e instanceof MedShareError && (codes.length === 0 || codes.includes(e.code));
}

/** The code the API uses for an HTTP status, for answers without an error body (e.g. API Gateway's own 401). */
export function codeForStatus(status: number): ApiErrorCode {
  switch (status) {
    case 401:
      return "unauthorized";
    case 403:
      return "forbidden";
    case 404:
      return "not_found";
    case 409:
      return "conflict";
    case 413:
      return "payload_too_large";
    case 429:
      return "rate_limited";
    case 503:
      return "unavailable";
  }
  return status >= 500 ? "internal" : "invalid_request";
}

/**
 * Parses a `Retry-After` header: delay-seconds or an HTTP date (RFC 9110 §10.2.3),
 * relative to nowMs. Returns undefined when absent or unreadable.
 */
export function parseRetryAfter(value: string | null, nowMs: number): number | undefined {
  if (value === null) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v);
  const t = Date.parse(v);
  if (Number.isNaN(t)) return undefined;
  return Math.max(0, Math.ceil((t - nowMs) / 1000));
}
