/**
 * The HTTP transport: `fetch`, JSON, the API key, error answers as typed errors, and bounded
 * retries (exponential backoff with jitter) on network errors and 503 — except a POST or PATCH
 * that timed out, which the server may have carried out already.
 *
 * Every call names its path as it stands in the OpenAPI document (`/v1/schedules/{schedule}`)
 * with its method; both are checked at compile time against the generated `openapi.d.ts`, so
 * an SDK call to a path or method the server no longer has does not compile.
 */

import { ChronosError, ConnectionFailed, errorFromResponse } from './errors.js';
import type { paths } from './openapi.js';
import { backoffMs, sleep } from './runtime.js';

export type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

/** The API's paths that answer `M`. */
export type PathOf<M extends Method> = {
  [P in keyof paths]: paths[P][M] extends undefined ? never : P;
}[keyof paths];

type Operation<M extends Method, P extends keyof paths> = NonNullable<paths[P][M]>;

/** The `{name}` parameters a path template holds, as an object. */
export type PathParams<P extends string> = P extends `${string}{${infer Name}}${infer Rest}`
  ? { [K in Name | keyof PathParams<Rest>]: string | number }
  : Record<never, never>;

/** The query parameters of an operation, as the OpenAPI document declares them. */
export type QueryOf<M extends Method, P extends keyof paths> =
  Operation<M, P> extends { parameters: { query?: infer Q } } ? NonNullable<Q> : never;

/** The JSON request body of an operation, as the OpenAPI document declares it. */
export type BodyOf<M extends Method, P extends keyof paths> =
  Operation<M, P> extends { requestBody?: { content: { 'application/json': infer B } } }
    ? B
    : never;

export type QueryValue = string | number | boolean | null | undefined | readonly string[];

export interface RequestOptions {
  /** Values for the path's `{name}` parameters. */
  path?: Record<string, string | number>;
  query?: Record<string, QueryValue>;
  /** Sent as JSON; `undefined` sends no body. */
  body?: unknown;
  headers?: Record<string, string>;
  /** Aborts the call (no retry). */
  signal?: AbortSignal;
  /** This call's time limit per attempt, instead of the client's `timeoutMs`. */
  timeoutMs?: number;
  /** This call's retries, instead of the client's `maxRetries`. */
  maxRetries?: number;
}

export interface TransportOptions {
  baseUrl: string;
  apiKey: string;
  timeoutMs: number;
  maxRetries: number;
  retryBaseMs: number;
  retryMaxMs: number;
  headers: Record<string, string>;
  fetch: typeof fetch;
}

export const USER_AGENT = 'chronos-typescript/0.1.0';
const IDEMPOTENT = new Set<Method>(['get', 'put', 'delete']);

export class Transport {
  constructor(readonly options: TransportOptions) {}

  url(
    path: string,
    params: Record<string, string | number> = {},
    query: Record<string, QueryValue> = {},
  ): string {
    const filled = path.replace(/\{(\w+)\}/g, (_, name: string) => {
      const value = params[name];
      if (value === undefined || value === '') {
        throw new ChronosError(`${path}: missing path parameter "${name}"`, {
          code: 'missing_parameter',
        });
      }
      return encodeURIComponent(String(value));
    });
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      if (value === undefined || value === null) continue;
      if (Array.isArray(value)) value.forEach((item) => search.append(key, String(item)));
      else search.append(key, String(value));
    }
    const text = search.toString();
    return `${this.options.baseUrl}${filled}${text ? `?${text}` : ''}`;
  }

  /** One API call: the parsed JSON answer, `undefined` for an empty one (204). */
  async request<T>(method: Method, path: string, options: RequestOptions = {}): Promise<T> {
    const url = this.url(path, options.path, options.query);
    const headers: Record<string, string> = {
      Accept: 'application/json',
      Authorization: `Bearer ${this.options.apiKey}`,
      'User-Agent': USER_AGENT,
      ...this.options.headers,
      ...options.headers,
    };
    let body: string | undefined;
    if (options.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(options.body);
    }
    const retries = Math.max(0, options.maxRetries ?? this.options.maxRetries);
    const timeoutMs = options.timeoutMs ?? this.options.timeoutMs;
    for (let attempt = 0; ; attempt++) {
      let response: Response;
      try {
        response = await this.send(
          url,
          method.toUpperCase(),
          headers,
          body,
          timeoutMs,
          options.signal,
        );
      } catch (error) {
        if (options.signal?.aborted) throw options.signal.reason ?? error;
        // A POST or PATCH that timed out may have been done: sending it again could do it twice.
        const unsafe =
          error instanceof ConnectionFailed && error.timedOut && !IDEMPOTENT.has(method);
        if (attempt >= retries || unsafe) throw error;
        await sleep(
          backoffMs(attempt, this.options.retryBaseMs, this.options.retryMaxMs),
          options.signal,
        );
        continue;
      }
      if (response.status === 503 && attempt < retries) {
        await response.body?.cancel().catch(() => undefined);
        const wait = Math.max(
          backoffMs(attempt, this.options.retryBaseMs, this.options.retryMaxMs),
          Math.min(retryAfterMs(response.headers.get('Retry-After')), this.options.retryMaxMs),
        );
        await sleep(wait, options.signal);
        if (options.signal?.aborted) throw options.signal.reason;
        continue;
      }
      return (await this.parse(response)) as T;
    }
  }

  private async send(
    url: string,
    method: string,
    headers: Record<string, string>,
    body: string | undefined,
    timeoutMs: number,
    signal: AbortSignal | undefined,
  ): Promise<Response> {
    if (signal?.aborted) throw signal.reason;
    const controller = new AbortController();
    const abort = () => controller.abort(signal?.reason);
    signal?.addEventListener('abort', abort, { once: true });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeoutMs);
    try {
      return await this.options.fetch(url, { method, headers, body, signal: controller.signal });
    } catch (error) {
      if (signal?.aborted) throw signal.reason ?? error;
      const why = timedOut ? `timed out after ${timeoutMs / 1000}s` : describe(error);
      throw new ConnectionFailed(`cannot reach Chronos at ${this.options.baseUrl}: ${why}`, {
        cause: error,
        timedOut,
      });
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', abort);
    }
  }

  private async parse(response: Response): Promise<unknown> {
    const text = response.status === 204 ? '' : await response.text();
    let body: unknown = undefined;
    if (text) {
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
    }
    if (response.status >= 400) throw errorFromResponse(response.status, body);
    return body;
  }
}

function retryAfterMs(value: string | null): number {
  if (!value) return 0;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? 0 : Math.max(0, date - Date.now());
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause as { code?: string; message?: string } | undefined;
  const detail = cause?.code ?? cause?.message;
  return detail ? `${error.message} (${detail})` : error.message;
}
