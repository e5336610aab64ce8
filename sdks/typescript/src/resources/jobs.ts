/**
 * `chronos.jobs` and `chronos.executions`: one-off work and its attempts.
 *
 * ```ts
 * const job = await chronos.jobs.create({
 *   handler: 'charge-invoice', payload: { invoiceId: 'inv_789' },
 *   delay: { value: 1, unit: 'hour' }, idempotency_key: 'inv_789',
 * });
 * console.log((await chronos.jobs.get(job.id)).executions);
 * ```
 */

import type { Execution, Job, JobInput, JobListQuery, JobWithExecutions, Page } from '../types.js';
import { type CallOptions, Resource, callOptions, listQuery, paginate } from './base.js';

export class Jobs extends Resource {
  /** A second job with the same `idempotency_key` is a `ConflictError`
   * (`idempotency_key_conflict`) and creates nothing. */
  create(body: JobInput, options?: CallOptions): Promise<Job> {
    return this.call('post', '/v1/jobs', { body, ...callOptions(options) });
  }

  /** Up to 1,000 jobs, all or nothing (one bad job rejects the batch, naming its index). */
  async createMany(jobs: JobInput[], options?: CallOptions): Promise<Job[]> {
    const answer = await this.call<{ data: Job[] }, 'post', '/v1/jobs/batch'>(
      'post',
      '/v1/jobs/batch',
      {
        body: { jobs },
        ...callOptions(options),
      },
    );
    return answer.data;
  }

  /** With its executions. */
  get(jobId: string, options?: CallOptions): Promise<JobWithExecutions> {
    return this.call('get', '/v1/jobs/{job_id}', {
      path: { job_id: jobId },
      ...callOptions(options),
    });
  }

  /** One page, newest first; `schedule_id: "null"` lists one-off jobs only. */
  list(query: JobListQuery = {}, options?: CallOptions): Promise<Page<Job>> {
    return this.call('get', '/v1/jobs', { query: listQuery(query), ...callOptions(options) });
  }

  iterate(query: JobListQuery = {}, options?: CallOptions): AsyncGenerator<Job, void> {
    return paginate((cursor) => this.list({ ...query, cursor }, options), query.cursor);
  }

  /** pending/queued/ready → canceled; a running job's worker learns it from its next
   * heartbeat (the handler's `ctx.signal` aborts). */
  cancel(jobId: string, options?: CallOptions): Promise<Job> {
    return this.call('post', '/v1/jobs/{job_id}/cancel', {
      path: { job_id: jobId },
      ...callOptions(options),
    });
  }

  /** Run a failed or canceled job again, with a fresh set of retries. */
  retry(jobId: string, options?: CallOptions): Promise<Job> {
    return this.call('post', '/v1/jobs/{job_id}/retry', {
      path: { job_id: jobId },
      ...callOptions(options),
    });
  }

  async executions(jobId: string, options?: CallOptions): Promise<Execution[]> {
    const answer = await this.call<Page<Execution>, 'get', '/v1/jobs/{job_id}/executions'>(
      'get',
      '/v1/jobs/{job_id}/executions',
      { path: { job_id: jobId }, ...callOptions(options) },
    );
    return answer.data;
  }
}

export class Executions extends Resource {
  get(executionId: string, options?: CallOptions): Promise<Execution> {
    return this.call('get', '/v1/executions/{execution_id}', {
      path: { execution_id: executionId },
      ...callOptions(options),
    });
  }
}
