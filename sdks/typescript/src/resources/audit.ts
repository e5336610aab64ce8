/**
 * `chronos.audit` (who changed what, when, why; newest first) and `chronos.backfills`.
 *
 * ```ts
 * for await (const record of chronos.audit.iterate({ resource_id: 'nightly' })) { … }
 * ```
 */

import type { AuditListQuery, AuditRecord, Backfill, Page } from '../types.js';
import {
  type CallOptions,
  type ReasonOptions,
  Resource,
  callOptions,
  listQuery,
  paginate,
  withReason,
} from './base.js';

export class Audit extends Resource {
  /** Filters: `resource_id` (an id, or a name: a schedule's name finds it after its
   * deletion), `resource_type`, `action`, `actor_key_id`, `since`, `until`. */
  list(query: AuditListQuery = {}, options?: CallOptions): Promise<Page<AuditRecord>> {
    return this.call('get', '/v1/audit', { query: listQuery(query), ...callOptions(options) });
  }

  iterate(query: AuditListQuery = {}, options?: CallOptions): AsyncGenerator<AuditRecord, void> {
    return paginate((cursor) => this.list({ ...query, cursor }, options), query.cursor);
  }
}

/** A backfill by id; create one with `chronos.schedules.backfill`. */
export class Backfills extends Resource {
  get(backfillId: string, options?: CallOptions): Promise<Backfill> {
    return this.call('get', '/v1/backfills/{backfill_id}', {
      path: { backfill_id: backfillId },
      ...callOptions(options),
    });
  }

  /** Cancel its jobs not yet started (`canceled_jobs` says how many). */
  cancel(backfillId: string, options?: ReasonOptions): Promise<Backfill> {
    return this.call('post', '/v1/backfills/{backfill_id}/cancel', {
      path: { backfill_id: backfillId },
      ...withReason(options),
    });
  }
}
