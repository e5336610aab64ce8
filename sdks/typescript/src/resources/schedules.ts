/**
 * `chronos.schedules`: recurring work.
 *
 * ```ts
 * await chronos.schedules.upsert('nightly', { handler: 'report', cron: '0 2 * * *' });
 * await chronos.schedules.pause('nightly', { note: 'warehouse migration' });
 * for await (const schedule of chronos.schedules.iterate({ state: 'enabled' })) { … }
 * ```
 */

import type {
  Backfill,
  BackfillInput,
  CursorQuery,
  Job,
  Page,
  Schedule,
  ScheduleEvent,
  ScheduleInput,
  ScheduleListQuery,
  SchedulePreview,
  ScheduleRun,
  ScheduleUpdate,
  ScheduleVersion,
  Slots,
  Timestamp,
} from '../types.js';
import {
  type CallOptions,
  type ReasonOptions,
  Resource,
  callOptions,
  listQuery,
  paginate,
  withReason,
} from './base.js';

type Ref = string;

export class Schedules extends Resource {
  /** Create; a name already in use is a `ConflictError` (`name_conflict`). */
  create(body: ScheduleInput, options?: CallOptions): Promise<Schedule> {
    return this.call('post', '/v1/schedules', { body, ...callOptions(options) });
  }

  /** Create or update by name (`PUT`): safe to run from every instance at start-up; an
   * unchanged body makes no new version. */
  upsert(
    name: string,
    body: Omit<ScheduleInput, 'name'> & { name?: string },
    options?: CallOptions,
  ): Promise<Schedule> {
    return this.call('put', '/v1/schedules/{name}', {
      path: { name },
      body,
      ...callOptions(options),
    });
  }

  /** By id (`sch_…`) or name. */
  get(idOrName: Ref, options?: CallOptions): Promise<Schedule> {
    return this.call('get', '/v1/schedules/{schedule}', {
      path: { schedule: idOrName },
      ...callOptions(options),
    });
  }

  /** One page; filters: `state`, `handler`, `search`, `tags`. */
  list(query: ScheduleListQuery = {}, options?: CallOptions): Promise<Page<Schedule>> {
    return this.call('get', '/v1/schedules', { query: listQuery(query), ...callOptions(options) });
  }

  /** Every schedule matching the filters, page after page. */
  iterate(query: ScheduleListQuery = {}, options?: CallOptions): AsyncGenerator<Schedule, void> {
    return paginate((cursor) => this.list({ ...query, cursor }, options), query.cursor);
  }

  /** Change some fields (`PATCH`); makes a new version. */
  update(idOrName: Ref, patch: ScheduleUpdate, options?: CallOptions): Promise<Schedule> {
    return this.call('patch', '/v1/schedules/{schedule}', {
      path: { schedule: idOrName },
      body: patch,
      ...callOptions(options),
    });
  }

  async delete(idOrName: Ref, options?: ReasonOptions): Promise<void> {
    await this.call('delete', '/v1/schedules/{schedule}', {
      path: { schedule: idOrName },
      ...withReason(options),
    });
  }

  /** Pause; `note` is shown with the paused schedule and is the audit log's reason. */
  pause(idOrName: Ref, options: ReasonOptions & { note?: string } = {}): Promise<Schedule> {
    const body = compact({ note: options.note, reason: options.reason });
    return this.call('post', '/v1/schedules/{schedule}/pause', {
      path: { schedule: idOrName },
      body,
      ...callOptions(options),
    });
  }

  resume(idOrName: Ref, options: ReasonOptions = {}): Promise<Schedule> {
    return this.call(
      'post',
      '/v1/schedules/{schedule}/resume',
      this.stateChange(idOrName, options),
    );
  }

  enable(idOrName: Ref, options: ReasonOptions = {}): Promise<Schedule> {
    return this.call(
      'post',
      '/v1/schedules/{schedule}/enable',
      this.stateChange(idOrName, options),
    );
  }

  disable(idOrName: Ref, options: ReasonOptions = {}): Promise<Schedule> {
    return this.call(
      'post',
      '/v1/schedules/{schedule}/disable',
      this.stateChange(idOrName, options),
    );
  }

  private stateChange(idOrName: Ref, options: ReasonOptions) {
    return {
      path: { schedule: idOrName },
      body: compact({ reason: options.reason }),
      ...callOptions(options),
    };
  }

  /** Run now, whatever the schedule's state: a one-off job with `trigger: "manual"`;
   * `reason` goes to the audit log. */
  trigger(idOrName: Ref, options?: ReasonOptions): Promise<Job> {
    return this.call('post', '/v1/schedules/{schedule}/trigger', {
      path: { schedule: idOrName },
      ...withReason(options),
    });
  }

  /** The next `count` (≤ 1000, default 10) fire times, DST aware. */
  async upcoming(
    idOrName: Ref,
    options: CallOptions & { count?: number } = {},
  ): Promise<Timestamp[]> {
    const answer = await this.call<
      { data: Timestamp[] },
      'get',
      '/v1/schedules/{schedule}/upcoming'
    >('get', '/v1/schedules/{schedule}/upcoming', {
      path: { schedule: idOrName },
      query: { count: options.count },
      ...callOptions(options),
    });
    return answer.data;
  }

  /** An unsaved schedule body's next `count` (1-100) fires, its timing in words and DST
   * warnings; nothing is stored. A body `create` would refuse throws the same error. */
  preview(
    body: ScheduleInput,
    options: CallOptions & { count?: number } = {},
  ): Promise<SchedulePreview> {
    return this.call('post', '/v1/schedules/preview', {
      body,
      query: { count: options.count },
      ...callOptions(options),
    });
  }

  /** Every configuration the schedule has had, newest first. */
  async versions(idOrName: Ref, options?: CallOptions): Promise<ScheduleVersion[]> {
    const answer = await this.call<
      Page<ScheduleVersion>,
      'get',
      '/v1/schedules/{schedule}/versions'
    >('get', '/v1/schedules/{schedule}/versions', {
      path: { schedule: idOrName },
      ...callOptions(options),
    });
    return answer.data;
  }

  version(idOrName: Ref, version: number, options?: CallOptions): Promise<ScheduleVersion> {
    return this.call('get', '/v1/schedules/{schedule}/versions/{version}', {
      path: { schedule: idOrName, version },
      ...callOptions(options),
    });
  }

  /** Restore version `version` as a new version. */
  rollback(idOrName: Ref, version: number, options?: CallOptions): Promise<Schedule> {
    return this.call('post', '/v1/schedules/{schedule}/rollback/{version}', {
      path: { schedule: idOrName, version },
      ...callOptions(options),
    });
  }

  /** The fire ledger: each slot planned in `[from, to]` (default the last 24 h) and its
   * outcome (on time, late, missed + reason, skipped, paused, excluded…). */
  slots(
    idOrName: Ref,
    options: CallOptions & { from?: Timestamp | Date; to?: Timestamp | Date } = {},
  ): Promise<Slots> {
    return this.call('get', '/v1/schedules/{schedule}/slots', {
      path: { schedule: idOrName },
      query: { from: time(options.from), to: time(options.to) },
      ...callOptions(options),
    });
  }

  /** Who created, changed, paused, resumed or triggered it, and when (newest first). */
  async events(
    idOrName: Ref,
    options: CallOptions & { limit?: number } = {},
  ): Promise<ScheduleEvent[]> {
    const answer = await this.call<Page<ScheduleEvent>, 'get', '/v1/schedules/{schedule}/events'>(
      'get',
      '/v1/schedules/{schedule}/events',
      { path: { schedule: idOrName }, query: { limit: options.limit }, ...callOptions(options) },
    );
    return answer.data;
  }

  /** Its jobs, newest first, each with its latest execution. */
  runs(idOrName: Ref, query: CursorQuery = {}, options?: CallOptions): Promise<Page<ScheduleRun>> {
    return this.call('get', '/v1/schedules/{schedule}/runs', {
      path: { schedule: idOrName },
      query: listQuery(query),
      ...callOptions(options),
    });
  }

  iterateRuns(
    idOrName: Ref,
    query: CursorQuery = {},
    options?: CallOptions,
  ): AsyncGenerator<ScheduleRun, void> {
    return paginate((cursor) => this.runs(idOrName, { ...query, cursor }, options), query.cursor);
  }

  /** Jobs for the past slots in `[from, to]` that have none, exactly once
   * (`overlap: "rerun"`: finished ones run again). */
  backfill(idOrName: Ref, body: BackfillInput, options?: CallOptions): Promise<Backfill> {
    return this.call('post', '/v1/schedules/{schedule}/backfill', {
      path: { schedule: idOrName },
      body,
      ...callOptions(options),
    });
  }

  /** The schedule's backfills, newest first. */
  backfills(
    idOrName: Ref,
    query: CursorQuery = {},
    options?: CallOptions,
  ): Promise<Page<Backfill>> {
    return this.call('get', '/v1/schedules/{schedule}/backfills', {
      path: { schedule: idOrName },
      query: listQuery(query),
      ...callOptions(options),
    });
  }
}

function compact<T extends Record<string, unknown>>(fields: T): Partial<T> | undefined {
  const entries = Object.entries(fields).filter(([, value]) => value !== undefined);
  return entries.length ? (Object.fromEntries(entries) as Partial<T>) : undefined;
}

export function time(value: Timestamp | Date | undefined | null): string | undefined {
  if (value === undefined || value === null) return undefined;
  return value instanceof Date ? value.toISOString() : value;
}
