/**
 * What the SDK sends and receives.
 *
 * Inputs come from the generated `openapi.d.ts` (the server's request models), so they follow
 * the API; durations are widened to also take strings like `"90s"`, `"5m"`, `"1h"` (the server
 * accepts them; its document says only "number"). Answers are written here: the server
 * declares them as plain objects. Field names are the API's own (snake_case), as in the JSON.
 */

import type { QueryOf } from './http.js';
import type { components } from './openapi.js';

type Schemas = components['schemas'];

/** Seconds, or a string like `"90s"`, `"5m"`, `"1h"`, `"1d"`. */
export type Duration = number | string;
/** RFC 3339 time in UTC, e.g. `"2026-03-01T02:00:00Z"`. */
export type Timestamp = string;
export type Json = unknown;

/** `T` with the fields `K` taking a {@link Duration}. `K` must be fields of `T`: a field the
 * server drops fails to compile here. */
type WithDurations<T, K extends keyof T> = Omit<T, K> & { [P in K]?: Duration | null };

// --- inputs ------------------------------------------------------------------------------

export type RetryPolicyInput = WithDurations<
  Schemas['RetryPolicyIn'],
  'initial_interval' | 'max_interval'
>;
export type DeliveryInput = Schemas['DeliveryIn'];
export type HttpTargetInput = Schemas['HttpTargetIn'];
export type DstPolicyInput = Schemas['DstPolicyIn'];

/** A schedule body: `name`, `handler`, exactly one of `cron`, `interval`, `schedule`, and
 * the rest (see the API docs). */
export type ScheduleInput = WithDurations<
  Omit<Schemas['ScheduleIn'], 'retry_policy'>,
  'timeout' | 'catchup_window' | 'jitter' | 'spread'
> & { retry_policy?: RetryPolicyInput | null };

/** A PATCH of a schedule: the fields to change (a new version). */
export type ScheduleUpdate = Partial<ScheduleInput>;

/** A one-off job: `handler`, `payload`, `delay` | `scheduled_for`, `idempotency_key`, … */
export type JobInput = WithDurations<Omit<Schemas['JobIn'], 'retry_policy'>, 'timeout'> & {
  retry_policy?: RetryPolicyInput | null;
};

export type ApiKeyInput = Schemas['ApiKeyIn'];
export type BackfillInput = Schemas['BackfillIn'];
export type CalendarInput = Schemas['CalendarIn'];
export type CalendarUpdate = Partial<CalendarInput>;
export type MonitorInput = WithDurations<
  Schemas['MonitorIn'],
  'interval' | 'grace' | 'max_runtime'
>;
export type MonitorUpdate = Partial<MonitorInput>;
export type AlertConditionInput = WithDurations<Schemas['AlertConditionIn'], 'seconds' | 'window'>;
export type AlertRuleInput = WithDurations<
  Omit<Schemas['AlertRuleIn'], 'condition'>,
  'grace' | 'cooldown'
> & {
  /** `{ type, …parameters }`, or just the type (`"missed"`) when it takes none. */
  condition: AlertConditionInput | AlertConditionInput['type'];
};
export type AlertRuleUpdate = Partial<AlertRuleInput>;
export type ClaimInput = Schemas['ClaimIn'];
export type ResultInput = Schemas['ResultIn'];

/** `tag.KEY=VALUE` filters (all must match). */
export interface TagFilter {
  tags?: Record<string, string>;
}
export type ScheduleListQuery = QueryOf<'get', '/v1/schedules'> & TagFilter;
export type JobListQuery = QueryOf<'get', '/v1/jobs'> & TagFilter;
export type MonitorListQuery = QueryOf<'get', '/v1/monitors'> & TagFilter;
export type AlertListQuery = QueryOf<'get', '/v1/alerts'>;
export type AuditListQuery = QueryOf<'get', '/v1/audit'>;
export type CursorQuery = { cursor?: string | null; limit?: number };

// --- answers -----------------------------------------------------------------------------

/** A page of a list: follow `next_cursor` (or use `iterate`) for the rest. */
export interface Page<T> {
  data: T[];
  next_cursor: string | null;
}

export type JobStatus = Schemas['JobStatus'];
export type JobTrigger = Schemas['JobTrigger'];
export type ScheduleState = Schemas['ScheduleState'];
export type ExecutionStatus = 'running' | 'completed' | 'failed' | 'timeout' | 'canceled';

export interface RetryPolicy {
  max_attempts: number;
  initial_interval: number;
  multiplier: number;
  max_interval: number;
}

/** A schedule's configuration as stored (what a version holds). */
export interface ScheduleConfig {
  name: string;
  description: string | null;
  handler: string | null;
  cron: string | null;
  /** Normalized: `{ value: 90, unit: "second" }` for `"90s"`, `90` or `"@every 90s"`. */
  interval: { value: number; unit: 'second' | 'minute' | 'hour' | 'day' | 'week' } | null;
  timezone: string;
  start_at: Timestamp | null;
  end_at: Timestamp | null;
  payload: Json;
  delivery: { type: 'pull' | 'push'; http?: Record<string, unknown> | null };
  timeout: number;
  max_retries: number;
  retry_policy: RetryPolicy;
  concurrency: 'forbid' | 'allow' | 'replace';
  misfire_policy: 'run_once' | 'run_all' | 'skip';
  catchup_window: number;
  tags: Record<string, string>;
  enabled: boolean;
  dst_policy: { gap: string; overlap: string };
  jitter: number;
  spread: number;
  exclude_calendars: string[];
  only_calendar: string | null;
  [field: string]: unknown;
}

export interface Schedule extends ScheduleConfig {
  id: string;
  state: ScheduleState;
  next_run_at: Timestamp | null;
  last_run_at: Timestamp | null;
  last_status: string | null;
  version: number;
  success_rate: number | null;
  created_at: Timestamp;
  updated_at: Timestamp;
  /** When paused: who paused it, when, and the note. */
  paused?: { at: Timestamp; by: string | null; note: string | null } | null;
}

export interface ScheduleVersion {
  version: number;
  created_at: Timestamp;
  config: ScheduleConfig;
}

export interface ScheduleEvent {
  id: string;
  at: Timestamp;
  kind: string;
  actor: string | null;
  note: string | null;
  details: Json;
  version: number | null;
}

/** A slot of the fire ledger: when, what became of it, and why. */
export interface Slot {
  at: Timestamp;
  outcome: string;
  lag_seconds: number | null;
  job_id: string | null;
  job_status: string | null;
  reason: string | null;
  version: number | null;
}

export interface Slots {
  data: Slot[];
  /** Earlier slots were left out: ask again with `to` = the first slot's `at`. */
  truncated: boolean;
}

export interface SchedulePreview {
  /** The next fires, UTC. */
  data: Timestamp[];
  /** The same instants in the schedule's timezone. */
  local: string[];
  timezone: string;
  description: string;
  warnings: Array<{ code: string; message: string; local_date: string | null }>;
  fires: Array<{ at: Timestamp; local: string; dst: string | null }>;
  dst_skipped: string[];
  cron_resolved: string | null;
  spread_offset: number | null;
  [field: string]: unknown;
}

export interface Job {
  id: string;
  name: string | null;
  handler: string | null;
  schedule_id: string | null;
  status: JobStatus;
  trigger: JobTrigger;
  backfill_id: string | null;
  payload: Json;
  delivery: { type: 'pull' | 'push'; http?: Record<string, unknown> | null };
  scheduled_for: Timestamp | null;
  run_at: Timestamp | null;
  attempt: number;
  max_retries: number;
  timeout: number;
  retry_policy: RetryPolicy;
  idempotency_key: string | null;
  tags: Record<string, string>;
  result: Json;
  last_error: Json;
  cancel_requested: boolean;
  created_at: Timestamp;
  updated_at: Timestamp;
  finished_at: Timestamp | null;
  [field: string]: unknown;
}

/** A job fetched one by one (`jobs.get`): with its executions, oldest first. */
export interface JobWithExecutions extends Job {
  executions: Execution[];
}

/** A schedule's job with its latest execution (`schedules.runs`). */
export interface ScheduleRun extends Job {
  last_execution: Execution | null;
}

/** What a worker reports for a failed attempt (`error`); any JSON is accepted. */
export interface ExecutionError {
  type?: string;
  message?: string;
  traceback?: string;
  [field: string]: unknown;
}

export interface Execution {
  id: string;
  job_id: string;
  attempt: number;
  status: ExecutionStatus;
  started_at: Timestamp | null;
  finished_at: Timestamp | null;
  duration_ms: number | null;
  worker_id: string | null;
  lease_expires_at: Timestamp | null;
  http_status: number | null;
  response_excerpt: string | null;
  output: Json;
  error: ExecutionError | null;
  [field: string]: unknown;
}

/** A job as a worker claims it. */
export interface ClaimedJob {
  id: string;
  execution_id: string;
  attempt: number;
  name: string | null;
  handler: string;
  payload: Json;
  schedule_id: string | null;
  scheduled_for: Timestamp | null;
  trigger: JobTrigger;
  tags: Record<string, string>;
  /** Seconds: the lease a heartbeat extends. */
  timeout: number;
  lease_expires_at: Timestamp;
  [field: string]: unknown;
}

export interface Heartbeat {
  lease_expires_at: Timestamp | null;
  cancel_requested: boolean;
}

export interface ApiKey {
  id: string;
  name: string;
  prefix: string;
  scope: 'admin' | 'worker';
  created_at: Timestamp;
  last_used_at: Timestamp | null;
}

/** A key just made: `key` is shown this once. */
export interface NewApiKey extends ApiKey {
  key: string;
}

export interface SigningSecret {
  id: string;
  secret: string;
  status: string;
  created_at: Timestamp;
}

export interface Calendar {
  id: string;
  name: string;
  description: string | null;
  dates: string[];
  ranges: Array<{ from: string; to: string }>;
  rules: Array<Record<string, unknown>>;
  version: number;
  created_at: Timestamp;
  updated_at: Timestamp;
  /** The schedules naming it (`get` only). */
  schedules?: string[];
  [field: string]: unknown;
}

export interface MonitorPing {
  id: string;
  at: Timestamp;
  kind: string;
  exit_code: number | null;
  body: Json;
  source_ip: string | null;
}

export interface Monitor {
  id: string;
  name: string;
  description: string | null;
  tags: Record<string, string>;
  cron: string | null;
  interval: number | null;
  timezone: string;
  grace: number;
  max_runtime: number | null;
  enabled: boolean;
  state: 'new' | 'up' | 'late' | 'failed' | 'paused';
  problem: { kind: string; since: Timestamp; summary: string } | null;
  expectation: string;
  last_ping_at: Timestamp | null;
  last_ping_kind: string | null;
  last_start_at: Timestamp | null;
  next_expected_at: Timestamp | null;
  late_after: Timestamp | null;
  ping_token?: string;
  ping_urls?: { ok: string; start: string; fail: string };
  pings?: MonitorPing[];
  created_at: Timestamp;
  updated_at: Timestamp;
  [field: string]: unknown;
}

export interface MonitorPingAnswer {
  ok: boolean;
  monitor: string;
  state: string;
  next_expected_at: Timestamp | null;
  [field: string]: unknown;
}

export interface AlertRule {
  id: string;
  name: string;
  description: string | null;
  enabled: boolean;
  condition: { type: string; [field: string]: unknown };
  selector: { tags?: Record<string, string> | null; names?: string[] | null };
  grace: number;
  cooldown: number;
  webhook: { url: string; headers?: Record<string, string>; format?: string } | null;
  created_at: Timestamp;
  updated_at: Timestamp;
  evaluated_at: Timestamp | null;
  [field: string]: unknown;
}

export interface AlertNotification {
  id: string;
  event: string;
  status: string;
  url: string;
  format: string;
  attempts: number;
  http_status: number | null;
  last_error: string | null;
  created_at: Timestamp;
  next_attempt_at: Timestamp | null;
  sent_at: Timestamp | null;
}

export interface Alert {
  id: string;
  rule_id: string;
  rule_name: string;
  condition: string;
  subject: { type: string; id: string; name: string };
  status: 'pending' | 'firing' | 'resolved';
  since: Timestamp;
  opened_at: Timestamp;
  fired_at: Timestamp | null;
  resolved_at: Timestamp | null;
  summary: string;
  details: Record<string, unknown>;
  reopened: number;
  /** Webhook deliveries (`get` only). */
  notifications?: AlertNotification[];
  [field: string]: unknown;
}

export interface AuditRecord {
  id: string;
  at: Timestamp;
  actor: { key_id: string | null; name: string | null };
  action: string;
  resource: { type: string; id: string; name: string | null };
  /** `{"field.path": [before, after]}`, secrets redacted. */
  changes: Record<string, [unknown, unknown]> | null;
  reason: string | null;
}

export interface Backfill {
  id: string;
  schedule_id: string;
  from: Timestamp;
  to: Timestamp;
  overlap: 'skip' | 'rerun';
  status: 'running' | 'done' | 'canceled';
  created: number;
  rerun: number;
  skipped_existing: number;
  in_flight: number;
  excluded: number;
  jobs: Record<string, number>;
  actor: { key_id: string | null; name: string | null };
  reason: string | null;
  created_at: Timestamp;
  canceled_at: Timestamp | null;
  /** After `backfills.cancel`: how many of its jobs were canceled. */
  canceled_jobs?: number;
}

export interface WorkerActivity {
  at: Timestamp;
  workers: Array<{
    worker_id: string;
    handlers: string[];
    first_seen_at: Timestamp;
    last_seen_at: Timestamp;
    state: 'polling' | 'gone';
    in_flight: unknown;
  }>;
  more_workers: unknown;
  push_targets: Array<Record<string, unknown>>;
  push_sampled: unknown;
  push_capped: unknown;
}
