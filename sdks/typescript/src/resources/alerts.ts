/**
 * `chronos.alertRules` and `chronos.alerts`: missed, late, failing and no-worker alerts,
 * delivered as signed webhooks.
 *
 * ```ts
 * await chronos.alertRules.create({ name: 'missed', condition: { type: 'missed' }, grace: '2m',
 *   webhook: { url: 'https://hooks.slack.com/…', format: 'slack' } });
 * for await (const alert of chronos.alerts.iterate({ status: 'firing' })) { … }
 * ```
 */

import type {
  Alert,
  AlertListQuery,
  AlertRule,
  AlertRuleInput,
  AlertRuleUpdate,
  CursorQuery,
  Page,
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

export class AlertRules extends Resource {
  create(body: AlertRuleInput, options?: ReasonOptions): Promise<AlertRule> {
    return this.call('post', '/v1/alert-rules', { body, ...withReason(options) });
  }

  get(idOrName: string, options?: CallOptions): Promise<AlertRule> {
    return this.call('get', '/v1/alert-rules/{rule}', {
      path: { rule: idOrName },
      ...callOptions(options),
    });
  }

  list(query: CursorQuery = {}, options?: CallOptions): Promise<Page<AlertRule>> {
    return this.call('get', '/v1/alert-rules', {
      query: listQuery(query),
      ...callOptions(options),
    });
  }

  iterate(query: CursorQuery = {}, options?: CallOptions): AsyncGenerator<AlertRule, void> {
    return paginate((cursor) => this.list({ ...query, cursor }, options), query.cursor);
  }

  /** Change some fields (`PATCH`); `enabled: false` silences the rule. */
  update(idOrName: string, patch: AlertRuleUpdate, options?: ReasonOptions): Promise<AlertRule> {
    return this.call('patch', '/v1/alert-rules/{rule}', {
      path: { rule: idOrName },
      body: patch,
      ...withReason(options),
    });
  }

  /** Its open alerts resolve without a notification; the history stays. */
  async delete(idOrName: string, options?: ReasonOptions): Promise<void> {
    await this.call('delete', '/v1/alert-rules/{rule}', {
      path: { rule: idOrName },
      ...withReason(options),
    });
  }
}

export class Alerts extends Resource {
  /** Filters: `status`, `rule_id`, `subject`, `since`. */
  list(query: AlertListQuery = {}, options?: CallOptions): Promise<Page<Alert>> {
    return this.call('get', '/v1/alerts', { query: listQuery(query), ...callOptions(options) });
  }

  iterate(query: AlertListQuery = {}, options?: CallOptions): AsyncGenerator<Alert, void> {
    return paginate((cursor) => this.list({ ...query, cursor }, options), query.cursor);
  }

  /** With its notifications (each delivery's status, attempts, HTTP status). */
  get(alertId: string, options?: CallOptions): Promise<Alert> {
    return this.call('get', '/v1/alerts/{alert_id}', {
      path: { alert_id: alertId },
      ...callOptions(options),
    });
  }
}
