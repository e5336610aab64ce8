/**
 * The Chronos client.
 *
 * ```ts
 * import { Chronos } from '@chronos.sh/sdk';
 * const chronos = new Chronos({ apiKey: process.env.CHRONOS_API_KEY });
 * await chronos.schedules.create({ name: 'nightly', handler: 'report', cron: '0 2 * * *' });
 * const job = await chronos.jobs.create({ handler: 'process-upload', payload: { fileId: 'f_1' } });
 * ```
 *
 * `apiKey` and `baseUrl` default to `CHRONOS_API_KEY` and `CHRONOS_URL` where the runtime has
 * environment variables (Node, Bun, Deno with --allow-env), and the URL to
 * `http://localhost:8080`. Error answers throw the error type that fits (see `errors.ts`),
 * carrying the API's `code`. Network errors and 503 answers are retried (`maxRetries`, default
 * 2) with exponential backoff and jitter; a create that must not run twice should carry an
 * `idempotency_key`.
 */

import { ChronosError } from './errors.js';
import {
  type Method,
  type PathOf,
  type PathParams,
  type RequestOptions,
  Transport,
} from './http.js';
import { ApiKeys, SigningSecrets, Workers } from './resources/account.js';
import { AlertRules, Alerts } from './resources/alerts.js';
import { Audit, Backfills } from './resources/audit.js';
import { paginate } from './resources/base.js';
import { Calendars } from './resources/calendars.js';
import { Executions, Jobs } from './resources/jobs.js';
import { Monitors } from './resources/monitors.js';
import { Schedules } from './resources/schedules.js';
import { readEnv } from './runtime.js';
import type { Page } from './types.js';
import { verifyWebhook } from './webhooks.js';
import { Worker } from './worker.js';

export const DEFAULT_URL = 'http://localhost:8080';

export interface ChronosOptions {
  /** `chrns_…`; default `CHRONOS_API_KEY`. */
  apiKey?: string | undefined;
  /** Default `CHRONOS_URL`, else `http://localhost:8080`. */
  baseUrl?: string | undefined;
  /** Per attempt, milliseconds (default 30,000). */
  timeoutMs?: number;
  /** Retries on network errors and 503 (default 2; 0 turns them off). */
  maxRetries?: number;
  /** First retry's wait, doubled each time with jitter (default 500 ms)… */
  retryBaseMs?: number;
  /** …up to this (default 8,000 ms). */
  retryMaxMs?: number;
  /** Sent with every request. */
  headers?: Record<string, string>;
  /** A `fetch` of your own (default the global one). */
  fetch?: typeof fetch;
}

export class Chronos {
  readonly baseUrl: string;
  readonly schedules: Schedules;
  readonly jobs: Jobs;
  readonly executions: Executions;
  readonly apiKeys: ApiKeys;
  readonly signingSecrets: SigningSecrets;
  readonly workers: Workers;
  readonly monitors: Monitors;
  readonly calendars: Calendars;
  readonly alertRules: AlertRules;
  readonly alerts: Alerts;
  readonly audit: Audit;
  readonly backfills: Backfills;
  /** Push receivers: `await chronos.webhooks.verify(rawBody, headers, secret)`. */
  readonly webhooks = { verify: verifyWebhook };
  private readonly transport: Transport;
  private workerInstance: Worker | undefined;

  constructor(options: ChronosOptions = {}) {
    const apiKey = options.apiKey || readEnv('CHRONOS_API_KEY');
    if (!apiKey) {
      throw new ChronosError('no API key: pass { apiKey } or set CHRONOS_API_KEY', {
        code: 'missing_api_key',
      });
    }
    this.baseUrl = (options.baseUrl || readEnv('CHRONOS_URL') || DEFAULT_URL).replace(/\/+$/, '');
    const fetchImpl = options.fetch ?? globalThis.fetch;
    if (typeof fetchImpl !== 'function') {
      throw new ChronosError('no fetch in this runtime: pass { fetch }', { code: 'missing_fetch' });
    }
    this.transport = new Transport({
      baseUrl: this.baseUrl,
      apiKey,
      timeoutMs: options.timeoutMs ?? 30_000,
      maxRetries: options.maxRetries ?? 2,
      retryBaseMs: options.retryBaseMs ?? 500,
      retryMaxMs: options.retryMaxMs ?? 8_000,
      headers: options.headers ?? {},
      // Called bare, some runtimes' fetch throws "Illegal invocation".
      fetch: (input, init) => fetchImpl(input, init),
    });
    this.schedules = new Schedules(this.transport);
    this.jobs = new Jobs(this.transport);
    this.executions = new Executions(this.transport);
    this.apiKeys = new ApiKeys(this.transport);
    this.signingSecrets = new SigningSecrets(this.transport);
    this.workers = new Workers(this.transport);
    this.monitors = new Monitors(this.transport);
    this.calendars = new Calendars(this.transport);
    this.alertRules = new AlertRules(this.transport);
    this.alerts = new Alerts(this.transport);
    this.audit = new Audit(this.transport);
    this.backfills = new Backfills(this.transport);
  }

  /** Runs handlers: `chronos.worker.handle(name, fn)`, then `await chronos.worker.start()`. */
  get worker(): Worker {
    this.workerInstance ??= new Worker(this.transport);
    return this.workerInstance;
  }

  /**
   * Any call of the API, by its path in the OpenAPI document; the path and method are checked
   * against the generated types: `chronos.request('get', '/v1/schedules/{schedule}/slots',
   * { path: { schedule: 'nightly' }, query: { from: '2026-03-01T00:00:00Z' } })`.
   */
  request<T = unknown, M extends Method = Method, P extends PathOf<M> = PathOf<M>>(
    method: M,
    path: P,
    options: Omit<RequestOptions, 'path'> & { path?: PathParams<P> } = {},
  ): Promise<T> {
    return this.transport.request<T>(method, path, options as RequestOptions);
  }

  /** Every item of any list method, following cursors:
   * `for await (const job of chronos.iterate((q) => chronos.jobs.list(q), { status: 'failed' }))`. */
  iterate<T, Q extends object = Record<never, never>>(
    list: (query: Q & { cursor?: string }) => Promise<Page<T>>,
    query: Q & { cursor?: string | null } = {} as Q,
  ): AsyncGenerator<T, void> {
    return paginate((cursor) => list({ ...query, cursor }), query.cursor);
  }
}
