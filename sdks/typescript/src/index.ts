/**
 * `@chronos.sh/sdk`: the TypeScript SDK of Chronos, a self-hostable job scheduler.
 *
 * ```ts
 * import { Chronos } from '@chronos.sh/sdk';
 * const chronos = new Chronos({ apiKey: process.env.CHRONOS_API_KEY });
 * chronos.worker.handle('sync-tenant', async (ctx) => ({ synced: 3 }));
 * await chronos.worker.start();
 * ```
 *
 * No runtime dependencies: `fetch`, `AbortController` and Web Crypto only, so it runs on
 * Node ≥ 18, Deno, Bun and edge runtimes.
 */

export { Chronos, DEFAULT_URL, type ChronosOptions } from './client.js';
export {
  APIError,
  AuthenticationError,
  BadRequestError,
  ChronosError,
  ConflictError,
  ConnectionFailed,
  NotFoundError,
  PayloadTooLargeError,
  ServiceUnavailableError,
  ValidationError,
  errorFromResponse,
} from './errors.js';
export type { BodyOf, Method, PathOf, PathParams, QueryOf, RequestOptions } from './http.js';
export type { CallOptions, ReasonOptions } from './resources/base.js';
export type { PingKind } from './resources/monitors.js';
export {
  InvalidSignature,
  SIGNATURE_HEADER,
  computeSignature,
  parseSignatureHeader,
  signatureHeader,
  verifyWebhook,
  type HeadersLike,
  type RawBody,
  type VerifyOptions,
} from './webhooks.js';
export {
  JobAborted,
  NonRetryable,
  Retryable,
  Worker,
  type Handler,
  type JobContext,
  type Logger,
  type WorkerOptions,
} from './worker.js';
export type * from './types.js';
export type { components, operations, paths } from './openapi.js';
