/**
 * The worker: long-poll for jobs, run handlers, heartbeat, report, shut down cleanly.
 *
 * ```ts
 * const chronos = new Chronos();                   // CHRONOS_URL, CHRONOS_API_KEY
 * chronos.worker.handle('sync-tenant', async (ctx) => {
 *   await syncData(ctx.payload, { signal: ctx.signal });
 *   return { synced: 3 };                          // the execution's output
 * });
 * await chronos.worker.start({ concurrency: 4 });  // until SIGTERM/SIGINT
 * ```
 *
 * A handler that throws fails the attempt, which Chronos retries with backoff; throw
 * {@link NonRetryable} to fail the job for good. Long handlers are kept alive by heartbeats
 * (every third of the job's `timeout`); when the server says the job was canceled,
 * `ctx.signal` aborts (`ctx.signal.reason` is a {@link JobAborted} with code `job_canceled`)
 * and no result is sent. Network errors and server restarts are retried with backoff; the
 * worker does not crash on them. On SIGTERM or SIGINT it stops claiming, waits up to
 * `graceSeconds` for in-flight jobs, reports their results and returns; a second signal stops
 * waiting. Jobs it could not finish are timed out by the server and retried (at-least-once).
 */

import {
  APIError,
  AuthenticationError,
  ChronosError,
  ConflictError,
  NotFoundError,
} from './errors.js';
import { onSignals, processId, readEnv, sleep, backoffMs } from './runtime.js';
import { Resource } from './resources/base.js';
import type { ClaimedJob, Heartbeat, Json, ResultInput } from './types.js';

const MAX_CLAIM_LIMIT = 100;
const MAX_BACKOFF_MS = 10_000;
const TRACEBACK_CHARS = 4000;

/** Fail this attempt; Chronos retries the job (the default for any error). */
export class Retryable extends Error {
  constructor(message?: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'Retryable';
  }
}

/** Fail the job for good: no more attempts. */
export class NonRetryable extends Error {
  constructor(message?: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NonRetryable';
  }
}

/** Why a handler's `ctx.signal` aborted: `code` is `job_canceled` (someone canceled the job),
 * `execution_not_running` (its lease was lost: timed out, retried elsewhere) or
 * `worker_stopped` (shutdown outlasted `graceSeconds`). */
export class JobAborted extends ChronosError {
  constructor(
    message: string,
    options: { code: 'job_canceled' | 'execution_not_running' | 'worker_stopped' },
  ) {
    super(message, { code: options.code, status: 0 });
  }
}

/** What a handler gets. */
export interface JobContext<Payload = any> {
  /** The JSON the job carries; `{}` when none was sent. */
  readonly payload: Payload;
  /** The claimed job as the API sent it. */
  readonly job: ClaimedJob;
  readonly jobId: string;
  readonly executionId: string;
  /** 1 for the first attempt. */
  readonly attempt: number;
  readonly name: string | null;
  readonly handler: string;
  readonly scheduledFor: string | null;
  /** Aborts when the job is canceled, its lease is lost, or the worker stops for good. */
  readonly signal: AbortSignal;
  /** True once the server said the job was canceled. */
  readonly cancelRequested: boolean;
  /** Extend the lease now (heartbeats are also sent on their own). */
  heartbeat(): Promise<void>;
}

export type Handler<Payload = any> = (ctx: JobContext<Payload>) => unknown;

export interface Logger {
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
}

export interface WorkerOptions {
  /** Jobs run at once (default 1). */
  concurrency?: number;
  /** Shown in the dashboard and on executions (default `HOSTNAME:pid`). */
  workerId?: string;
  /** On stop, how long in-flight jobs get to finish (default 30). */
  graceSeconds?: number;
  /** Stop on SIGTERM and SIGINT (default true, where the runtime has signals). */
  handleSignals?: boolean;
  /** How long one claim waits for a job (1-20, default 20). */
  pollSeconds?: number;
  /** Where the worker says what it does (default `console`; `null`: nowhere). */
  logger?: Logger | null;
}

const silent: Logger = { info() {}, warn() {}, error() {} };

interface InFlight {
  done: Promise<void>;
  controller: AbortController;
}

export class Worker extends Resource {
  private readonly handlers = new Map<string, Handler>();
  private stopper: AbortController | null = null;
  private hurry: AbortController | null = null;
  private log: Logger = console;

  /** Register `handler` for jobs whose `handler` is `name`. */
  handle<Payload = any>(name: string, handler: Handler<Payload>): this {
    if (!name) throw new TypeError('a handler needs a name');
    if (typeof handler !== 'function') throw new TypeError(`handler for ${name} is not a function`);
    this.handlers.set(name, handler as Handler);
    return this;
  }

  /** True between `start()` and the moment it resolves. */
  get running(): boolean {
    return this.stopper !== null;
  }

  /** Stop claiming and finish in-flight jobs (what SIGTERM does); `start()` then resolves.
   * A second call stops waiting for them. */
  stop(): void {
    if (!this.stopper) return;
    if (this.stopper.signal.aborted) this.hurry?.abort();
    else this.stopper.abort();
  }

  /** Claim and run jobs until `stop()`, SIGTERM or SIGINT. Rejects only on a refused API key. */
  async start(options: WorkerOptions = {}): Promise<void> {
    if (this.stopper)
      throw new ChronosError('this worker is already running', { code: 'worker_running' });
    if (this.handlers.size === 0) {
      throw new ChronosError('no handlers registered: use chronos.worker.handle(name, handler)', {
        code: 'no_handlers',
      });
    }
    const concurrency = options.concurrency ?? 1;
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new RangeError('concurrency must be a whole number, at least 1');
    }
    const pollSeconds = Math.min(20, Math.max(1, options.pollSeconds ?? 20));
    const graceMs = Math.max(0, options.graceSeconds ?? 30) * 1000;
    const workerId =
      options.workerId ??
      `${readEnv('HOSTNAME') ?? 'worker'}:${processId() ?? Math.random().toString(36).slice(2, 8)}`;
    this.log = options.logger === null ? silent : (options.logger ?? console);
    const stopper = (this.stopper = new AbortController());
    const hurry = (this.hurry = new AbortController());
    const undoSignals =
      options.handleSignals === false
        ? () => {}
        : onSignals(['SIGTERM', 'SIGINT'], () => this.stop());
    const inFlight = new Set<InFlight>();
    let fatal: unknown;
    try {
      fatal = await this.claimLoop({ stopper, inFlight, concurrency, pollSeconds, workerId });
      if (inFlight.size > 0) {
        this.log.info(
          `chronos worker: stopping; waiting up to ${graceMs / 1000}s for ${inFlight.size} job(s)`,
        );
        // Until they are all done, the grace ends, or stop() is called again.
        const waited = new AbortController();
        hurry.signal.addEventListener('abort', () => waited.abort(), { once: true });
        await Promise.race([
          Promise.allSettled([...inFlight].map((job) => job.done)).then(() => waited.abort()),
          sleep(graceMs, waited.signal),
        ]);
        for (const job of inFlight) {
          job.controller.abort(
            new JobAborted('the worker stopped before the job finished', {
              code: 'worker_stopped',
            }),
          );
        }
      }
    } finally {
      undoSignals();
      this.stopper = null;
      this.hurry = null;
    }
    if (fatal !== undefined) throw fatal;
  }

  /** Claims while not stopping; returns the error that must end the worker, if any. */
  private async claimLoop(run: {
    stopper: AbortController;
    inFlight: Set<InFlight>;
    concurrency: number;
    pollSeconds: number;
    workerId: string;
  }): Promise<unknown> {
    const { stopper, inFlight } = run;
    const stopped = new Promise<void>((resolve) =>
      stopper.signal.addEventListener('abort', () => resolve(), { once: true }),
    );
    let failures = 0;
    while (!stopper.signal.aborted) {
      const free = run.concurrency - inFlight.size;
      if (free <= 0) {
        await Promise.race([stopped, ...[...inFlight].map((job) => job.done)]);
        continue;
      }
      let jobs: ClaimedJob[];
      try {
        const answer = await this.call<{ jobs: ClaimedJob[] }, 'post', '/v1/worker/jobs/claim'>(
          'post',
          '/v1/worker/jobs/claim',
          {
            body: {
              handlers: [...this.handlers.keys()].sort(),
              worker_id: run.workerId,
              wait_seconds: run.pollSeconds,
              limit: Math.min(free, MAX_CLAIM_LIMIT),
            },
            signal: stopper.signal,
            timeoutMs: (run.pollSeconds + 10) * 1000,
            maxRetries: 0,
          },
        );
        jobs = answer.jobs;
        failures = 0;
      } catch (error) {
        if (stopper.signal.aborted) break;
        if (
          error instanceof AuthenticationError ||
          (error instanceof APIError && error.status === 403)
        ) {
          this.log.error(
            `chronos worker: the API key was refused (${error.status} ${error.code}); stopping`,
          );
          stopper.abort();
          return error;
        }
        const wait = backoffMs(failures++, 500, MAX_BACKOFF_MS);
        this.log.warn(
          `chronos worker: claim failed (${String(error)}); retrying in ${(wait / 1000).toFixed(1)}s`,
        );
        await sleep(wait, stopper.signal);
        continue;
      }
      for (const job of jobs) {
        const controller = new AbortController();
        const entry: InFlight = { controller, done: Promise.resolve() };
        entry.done = this.execute(job, controller)
          .catch((error: unknown) =>
            this.log.error(`chronos worker: job ${job.id}: ${String(error)}`),
          )
          .finally(() => inFlight.delete(entry));
        inFlight.add(entry);
      }
    }
    return undefined;
  }

  private async execute(job: ClaimedJob, controller: AbortController): Promise<void> {
    const handler = this.handlers.get(job.handler);
    const beats = new AbortController();
    const heartbeat = () => this.heartbeat(job, controller);
    const ctx: JobContext = {
      payload: job.payload ?? {},
      job,
      jobId: job.id,
      executionId: job.execution_id,
      attempt: job.attempt,
      name: job.name,
      handler: job.handler,
      scheduledFor: job.scheduled_for,
      signal: controller.signal,
      get cancelRequested() {
        return (
          controller.signal.aborted &&
          (controller.signal.reason as JobAborted)?.code === 'job_canceled'
        );
      },
      heartbeat,
    };
    void this.heartbeatLoop(job, heartbeat, beats.signal, controller.signal);
    let result: ResultInput;
    try {
      if (!handler) throw new Error(`no handler named ${job.handler} in this worker`);
      result = { status: 'completed', output: jsonable(await handler(ctx)) };
    } catch (error) {
      result = {
        status: 'failed',
        retryable: !(error instanceof NonRetryable),
        error: describeError(error),
      };
    } finally {
      beats.abort();
    }
    if (controller.signal.aborted) {
      const reason = controller.signal.reason as JobAborted;
      this.log.info(`chronos worker: job ${job.id} not reported: ${reason?.message ?? 'aborted'}`);
      return;
    }
    await this.report(job, result);
  }

  private async heartbeatLoop(
    job: ClaimedJob,
    heartbeat: () => Promise<void>,
    finished: AbortSignal,
    aborted: AbortSignal,
  ): Promise<void> {
    const intervalMs = Math.max(500, ((Number(job.timeout) || 30) * 1000) / 3);
    for (;;) {
      await sleep(intervalMs, finished);
      if (finished.aborted || aborted.aborted) return;
      await heartbeat().catch(() => undefined);
    }
  }

  /** One heartbeat: extends the lease; aborts the handler's signal when the job is gone. */
  private async heartbeat(job: ClaimedJob, controller: AbortController): Promise<void> {
    if (controller.signal.aborted) return;
    let beat: Heartbeat;
    try {
      beat = await this.call<Heartbeat, 'post', '/v1/worker/executions/{execution_id}/heartbeat'>(
        'post',
        '/v1/worker/executions/{execution_id}/heartbeat',
        { path: { execution_id: job.execution_id }, maxRetries: 0, timeoutMs: 10_000 },
      );
    } catch (error) {
      if (error instanceof NotFoundError || error instanceof ConflictError) {
        controller.abort(
          new JobAborted(`the execution is no longer running: ${error.message}`, {
            code: 'execution_not_running',
          }),
        );
        return;
      }
      this.log.warn(`chronos worker: heartbeat for ${job.id} failed: ${String(error)}`);
      throw error;
    }
    if (beat.cancel_requested) {
      controller.abort(new JobAborted(`job ${job.id} was canceled`, { code: 'job_canceled' }));
    }
  }

  /** Send the result; network errors and 5xx are retried for a while, 4xx are final. */
  private async report(job: ClaimedJob, result: ResultInput): Promise<void> {
    for (let attempt = 0; attempt < 20; attempt++) {
      try {
        await this.call('post', '/v1/worker/executions/{execution_id}/result', {
          path: { execution_id: job.execution_id },
          body: result,
          maxRetries: 0,
        });
        return;
      } catch (error) {
        if (error instanceof APIError && error.status < 500) {
          const why =
            error instanceof ConflictError ? 'the execution is no longer running' : error.message;
          this.log.info(`chronos worker: result for ${job.id} refused: ${why}`);
          return;
        }
        this.log.warn(`chronos worker: reporting ${job.id} failed (${String(error)}); retrying`);
        await sleep(backoffMs(attempt, 500, MAX_BACKOFF_MS));
      }
    }
    this.log.error(
      `chronos worker: gave up reporting ${job.id}; the server will time it out and retry`,
    );
  }
}

/** The handler's return value as JSON (`undefined` → `null`; what JSON cannot hold → text). */
function jsonable(value: unknown): Json {
  if (value === undefined) return null;
  try {
    const text = JSON.stringify(value);
    return text === undefined ? null : JSON.parse(text);
  } catch {
    return String(value);
  }
}

function describeError(error: unknown): Record<string, unknown> {
  if (error instanceof Error) {
    const type =
      error.name && error.name !== 'Error' ? error.name : error.constructor?.name || 'Error';
    const stack = error.stack ?? `${type}: ${error.message}`;
    // `traceback` is the field the Python SDK sends and the dashboard shows.
    return { type, message: error.message, traceback: stack.slice(-TRACEBACK_CHARS) };
  }
  return { type: typeof error, message: String(error) };
}
