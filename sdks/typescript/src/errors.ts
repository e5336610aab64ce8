/**
 * Error types, one per kind of failure, each carrying the API's stable `code`.
 * They mirror the Python SDK's `chronos.errors`:
 *
 * ```ts
 * try {
 *   await chronos.jobs.create({ handler: 'charge', idempotency_key: 'inv_789' });
 * } catch (error) {
 *   if (error instanceof ConflictError && error.code === 'idempotency_key_conflict') { … }
 * }
 * ```
 */

/** An error with a stable machine-readable `code` and an HTTP `status` (0: no answer). */
export class ChronosError extends Error {
  readonly code: string;
  readonly status: number;
  readonly details: unknown;

  constructor(
    message: string,
    options: { code?: string; status?: number; details?: unknown; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = options.code ?? 'error';
    this.status = options.status ?? 400;
    this.details = options.details;
  }
}

/** The API answered with an error (`code` and `status` say which). */
export class APIError extends ChronosError {}
export class BadRequestError extends APIError {}
export class AuthenticationError extends APIError {}
export class NotFoundError extends APIError {}
export class ConflictError extends APIError {}
export class PayloadTooLargeError extends APIError {}
export class ValidationError extends APIError {}
export class ServiceUnavailableError extends APIError {}

/** Chronos could not be reached at all (network error, timeout, server down). */
export class ConnectionFailed extends ChronosError {
  /** No answer within the time limit (the server may still have acted on the request). */
  readonly timedOut: boolean;

  constructor(message: string, options: { cause?: unknown; timedOut?: boolean } = {}) {
    super(message, { code: 'connection_failed', status: 0, cause: options.cause });
    this.timedOut = options.timedOut ?? false;
  }
}

const BY_STATUS: Record<number, typeof APIError> = {
  400: BadRequestError,
  401: AuthenticationError,
  404: NotFoundError,
  409: ConflictError,
  413: PayloadTooLargeError,
  415: BadRequestError,
  422: ValidationError,
  503: ServiceUnavailableError,
};

/** The error for an error answer of the API: `{"error": {"code", "message", "details"}}`. */
export function errorFromResponse(status: number, body: unknown): APIError {
  const error =
    typeof body === 'object' && body !== null && 'error' in body
      ? (body as { error: unknown }).error
      : undefined;
  const fields =
    typeof error === 'object' && error !== null ? (error as Record<string, unknown>) : {};
  const Kind = BY_STATUS[status] ?? APIError;
  return new Kind(String(fields['message'] ?? `HTTP ${status}`), {
    code: String(fields['code'] ?? 'http_error'),
    status,
    details: fields['details'],
  });
}
