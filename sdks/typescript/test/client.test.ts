// The client against a real server: every resource, typed errors with the API's code, cursor
// pagination as async iterators, environment defaults, and retries (against a local stub).

import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';

import {
  Chronos,
  ChronosError,
  ConflictError,
  ConnectionFailed,
  NotFoundError,
  ServiceUnavailableError,
  ValidationError,
} from '@chronos.sh/sdk';

import { freePort } from '../scripts/server.mjs';
import { client, testServer, unique } from './support/server.js';

test('the client reads CHRONOS_API_KEY and CHRONOS_URL, and needs a key', async () => {
  const server = await testServer();
  const saved = { key: process.env.CHRONOS_API_KEY, url: process.env.CHRONOS_URL };
  try {
    process.env.CHRONOS_API_KEY = server.apiKey;
    process.env.CHRONOS_URL = `${server.url}/`;
    const chronos = new Chronos();
    assert.equal(chronos.baseUrl, server.url);
    assert.ok(Array.isArray((await chronos.jobs.list({ limit: 1 })).data));
    delete process.env.CHRONOS_URL;
    assert.equal(new Chronos({ apiKey: 'chrns_x' }).baseUrl, 'http://localhost:8080');
    delete process.env.CHRONOS_API_KEY;
    assert.throws(
      () => new Chronos({ apiKey: process.env.CHRONOS_API_KEY }),
      (error: unknown) => error instanceof ChronosError && error.code === 'missing_api_key',
    );
  } finally {
    if (saved.key === undefined) delete process.env.CHRONOS_API_KEY;
    else process.env.CHRONOS_API_KEY = saved.key;
    if (saved.url === undefined) delete process.env.CHRONOS_URL;
    else process.env.CHRONOS_URL = saved.url;
  }
});

test('schedules: create, read, change, versions, rollback, state changes, trigger, timing', async () => {
  const chronos = await client();
  const name = unique('nightly');
  const created = await chronos.schedules.create({
    name,
    handler: 'report',
    cron: '0 2 * * *',
    timezone: 'Europe/Berlin',
    timeout: '5m',
    tags: { team: name },
  });
  assert.match(created.id, /^sch_/);
  assert.equal(created.timeout, 300);
  assert.equal(created.state, 'enabled');
  assert.equal((await chronos.schedules.get(name)).id, created.id);
  assert.deepEqual(
    (await chronos.schedules.list({ tags: { team: name } })).data.map((s) => s.id),
    [created.id],
  );

  const updated = await chronos.schedules.update(name, { cron: '0 3 * * *' });
  assert.equal(updated.version, 2);
  const unchanged = await chronos.schedules.upsert(name, {
    handler: 'report',
    cron: '0 3 * * *',
    timezone: 'Europe/Berlin',
    timeout: 300,
    tags: { team: name },
  });
  assert.equal(unchanged.version, 2);
  const versions = await chronos.schedules.versions(name);
  assert.deepEqual(
    versions.map((v) => v.version),
    [2, 1],
  );
  assert.equal((await chronos.schedules.version(name, 1)).config.cron, '0 2 * * *');
  const rolledBack = await chronos.schedules.rollback(name, 1);
  assert.equal(rolledBack.cron, '0 2 * * *');
  assert.equal(rolledBack.version, 3);

  const paused = await chronos.schedules.pause(name, { note: 'warehouse migration' });
  assert.equal(paused.state, 'paused');
  assert.equal(paused.paused?.note, 'warehouse migration');
  assert.equal((await chronos.schedules.resume(name, { reason: 'back' })).state, 'enabled');
  assert.equal((await chronos.schedules.disable(name)).state, 'disabled');
  assert.equal((await chronos.schedules.enable(name)).state, 'enabled');

  const upcoming = await chronos.schedules.upcoming(name, { count: 3 });
  assert.equal(upcoming.length, 3);
  assert.ok(upcoming.every((t) => t.endsWith('Z')));
  const preview = await chronos.schedules.preview(
    { name: 'draft', handler: 'h', cron: '30 2 * * *', timezone: 'America/New_York' },
    { count: 5 },
  );
  assert.equal(preview.data.length, 5);
  assert.equal(typeof preview.description, 'string');
  const slots = await chronos.schedules.slots(name, {
    from: new Date(Date.now() - 3600_000),
    to: new Date(),
  });
  assert.ok(Array.isArray(slots.data));
  assert.equal(typeof slots.truncated, 'boolean');
  const events = await chronos.schedules.events(name);
  assert.ok(
    events.some((e) => e.kind === 'paused' || e.note === 'warehouse migration'),
    JSON.stringify(events),
  );

  const manual = await chronos.schedules.trigger(name, { reason: 'rerun for the report' });
  assert.equal(manual.trigger, 'manual');
  assert.equal(manual.schedule_id, created.id);
  const runs = await chronos.schedules.runs(name);
  assert.deepEqual(
    runs.data.map((r) => r.id),
    [manual.id],
  );
  await chronos.jobs.cancel(manual.id);

  await chronos.schedules.delete(name, { reason: 'test over' });
  await assert.rejects(chronos.schedules.get(name), NotFoundError);
});

test('error answers are typed errors carrying the API code', async () => {
  const chronos = await client();
  const name = unique('dup');
  await chronos.schedules.create({ name, handler: 'h', interval: { value: 1, unit: 'hour' } });
  await assert.rejects(
    chronos.schedules.create({ name, handler: 'h', interval: { value: 1, unit: 'hour' } }),
    (error: unknown) => {
      assert.ok(error instanceof ConflictError);
      assert.equal(error.code, 'name_conflict');
      assert.equal(error.status, 409);
      return true;
    },
  );
  await assert.rejects(chronos.jobs.get('job_does_not_exist'), (error: unknown) => {
    assert.ok(error instanceof NotFoundError);
    assert.equal(error.status, 404);
    assert.equal(typeof error.code, 'string');
    return true;
  });
  await assert.rejects(
    chronos.schedules.create({ name: unique('bad'), handler: 'h', cron: 'not a cron' }),
    (error: unknown) => {
      assert.ok(error instanceof ValidationError);
      assert.equal(error.status, 422);
      return true;
    },
  );
  const key = unique('inv');
  await chronos.jobs.create({ handler: unique('charge'), idempotency_key: key, delay: '1h' });
  await assert.rejects(
    chronos.jobs.create({ handler: 'charge', idempotency_key: key }),
    (error: unknown) => {
      assert.ok(error instanceof ConflictError);
      assert.equal(error.code, 'idempotency_key_conflict');
      return true;
    },
  );
  await chronos.schedules.delete(name);
});

test('jobs: create, batch, get with executions, filter, cancel, retry; iterate follows cursors', async () => {
  const pages: string[] = [];
  const chronos = await client({
    fetch: (input, init) => {
      if (String(input).includes('/v1/jobs?')) pages.push(String(input));
      return fetch(input, init);
    },
  });
  const handler = unique('later');
  const one = await chronos.jobs.create({
    handler,
    payload: { n: 0 },
    delay: { value: 1, unit: 'hour' },
    tags: { batch: handler },
  });
  assert.equal(one.status, 'pending');
  const many = await chronos.jobs.createMany(
    [1, 2, 3, 4].map((n) => ({ handler, payload: { n }, delay: '1h', tags: { batch: handler } })),
  );
  assert.equal(many.length, 4);

  const seen: unknown[] = [];
  for await (const job of chronos.jobs.iterate({ handler, limit: 2 })) seen.push(job.payload);
  assert.deepEqual(seen.map((p) => (p as { n: number }).n).sort(), [0, 1, 2, 3, 4]);
  assert.equal(pages.length, 3, 'three pages of two');
  const tagged = await chronos.jobs.list({ tags: { batch: handler }, limit: 500 });
  assert.equal(tagged.data.length, 5);
  const all = [];
  for await (const job of chronos.iterate((q) => chronos.jobs.list(q), { handler, limit: 3 }))
    all.push(job);
  assert.equal(all.length, 5);

  const canceled = await chronos.jobs.cancel(one.id);
  assert.equal(canceled.status, 'canceled');
  const retried = await chronos.jobs.retry(one.id);
  assert.notEqual(retried.status, 'canceled');
  const fetched = await chronos.jobs.get(one.id);
  assert.deepEqual(fetched.executions, []);
  assert.deepEqual(await chronos.jobs.executions(one.id), []);
  for (const job of [one, ...many]) await chronos.jobs.cancel(job.id).catch(() => undefined);
});

test('api keys, signing secrets, workers and a typed call by path', async () => {
  const chronos = await client();
  const created = await chronos.apiKeys.create({ name: unique('worker-key'), scope: 'worker' });
  assert.match(created.key, /^chrns_/);
  assert.ok((await chronos.apiKeys.list()).some((k) => k.id === created.id));
  const asWorker = await client({ apiKey: created.key });
  await assert.rejects(
    asWorker.schedules.list(),
    (error: unknown) => error instanceof ChronosError && error.status === 403,
  );
  await chronos.apiKeys.delete(created.id);
  assert.ok(!(await chronos.apiKeys.list()).some((k) => k.id === created.id));

  const secrets = await chronos.signingSecrets.list();
  assert.ok(secrets.length >= 1 && typeof secrets[0]?.secret === 'string');
  assert.ok(Array.isArray((await chronos.workers.list()).workers));

  const health = await chronos.request<{ data: string[] }>(
    'get',
    '/v1/schedules/{schedule}/upcoming',
    {
      path: {
        schedule: (
          await chronos.schedules.create({ name: unique('typed'), handler: 'h', cron: '@daily' })
        ).id,
      },
      query: { count: 2 },
    },
  );
  assert.equal(health.data.length, 2);
});

test('monitors, calendars, alert rules, alerts, audit and backfills', async () => {
  const chronos = await client();
  const monitorName = unique('backup');
  const monitor = await chronos.monitors.create({ name: monitorName, interval: '1h', grace: '5m' });
  assert.equal(monitor.state, 'new');
  assert.ok(monitor.ping_urls?.ok.includes('/v1/ping/'));
  const ping = await chronos.monitors.ping(monitorName, 'ok', { message: { rows: 12 } });
  assert.equal(ping.ok, true);
  await chronos.monitors.ping(monitorName, 'start');
  assert.ok((await chronos.monitors.pings(monitorName)).length >= 2);
  assert.equal((await chronos.monitors.pause(monitorName)).state, 'paused');
  assert.notEqual((await chronos.monitors.resume(monitorName)).state, 'paused');
  assert.ok((await chronos.monitors.list()).data.some((m) => m.id === monitor.id));
  await chronos.monitors.delete(monitorName);

  const calendarName = unique('holidays');
  await chronos.calendars.create({ name: calendarName, dates: ['2026-12-25', '2026-12-26'] });
  assert.deepEqual(
    await chronos.calendars.dates(calendarName, { from: '2026-12-01', to: '2026-12-31' }),
    ['2026-12-25', '2026-12-26'],
  );
  assert.deepEqual((await chronos.calendars.get(calendarName)).schedules, []);
  await chronos.calendars.delete(calendarName);

  const ruleName = unique('missed');
  const rule = await chronos.alertRules.create({
    name: ruleName,
    condition: 'missed',
    grace: '2m',
  });
  assert.equal(rule.condition.type, 'missed');
  assert.equal(rule.grace, 120);
  assert.equal((await chronos.alertRules.update(ruleName, { enabled: false })).enabled, false);
  assert.ok((await chronos.alertRules.list()).data.some((r) => r.id === rule.id));
  await chronos.alertRules.delete(ruleName, { reason: 'test over' });
  assert.ok(Array.isArray((await chronos.alerts.list({ status: 'firing' })).data));

  const scheduleName = unique('audited');
  const schedule = await chronos.schedules.create({
    name: scheduleName,
    handler: unique('h'),
    cron: '*/10 * * * *',
    enabled: true,
  });
  await chronos.schedules.pause(scheduleName, { reason: 'audit me' });
  const records = [];
  for await (const record of chronos.audit.iterate({ resource_id: schedule.id, limit: 1 }))
    records.push(record);
  assert.ok(
    records.some((r) => r.action === 'schedule.paused' && r.reason === 'audit me'),
    JSON.stringify(records),
  );

  const now = Date.now();
  const backfill = await chronos.schedules.backfill(scheduleName, {
    from: new Date(now - 3 * 3600_000).toISOString(),
    to: new Date(now - 3600_000).toISOString(),
  });
  assert.match(backfill.id, /^bf/);
  assert.ok(backfill.created > 0, JSON.stringify(backfill));
  assert.equal((await chronos.backfills.get(backfill.id)).id, backfill.id);
  assert.deepEqual(
    (await chronos.schedules.backfills(scheduleName)).data.map((b) => b.id),
    [backfill.id],
  );
  const canceled = await chronos.backfills.cancel(backfill.id);
  assert.equal(canceled.status, 'canceled');
  assert.equal(typeof canceled.canceled_jobs, 'number');
  await chronos.schedules.delete(scheduleName);
});

/** A local HTTP stub answering each request with the next of `answers`. */
async function stub(answers: Array<(req: IncomingMessage, res: ServerResponse) => void>) {
  let hits = 0;
  const server = createServer((req, res) => {
    const answer = answers[Math.min(hits, answers.length - 1)];
    hits++;
    answer?.(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    hits: () => hits,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const unavailable = (_req: IncomingMessage, res: ServerResponse) => {
  res.writeHead(503, { 'Content-Type': 'application/json', 'Retry-After': '0' });
  res.end(JSON.stringify({ error: { code: 'unavailable', message: 'draining' } }));
};
const ok = (_req: IncomingMessage, res: ServerResponse) => {
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify({ data: [], next_cursor: null }));
};

test('503 answers and network errors are retried with backoff, a bounded number of times', async () => {
  const fast = { apiKey: 'chrns_stub', retryBaseMs: 10, retryMaxMs: 50 };
  const flaky = await stub([unavailable, unavailable, ok]);
  try {
    const chronos = new Chronos({ ...fast, baseUrl: flaky.url });
    assert.deepEqual((await chronos.jobs.list()).data, []);
    assert.equal(flaky.hits(), 3);
  } finally {
    await flaky.close();
  }

  const down = await stub([unavailable]);
  try {
    const chronos = new Chronos({ ...fast, baseUrl: down.url, maxRetries: 1 });
    await assert.rejects(chronos.jobs.list(), (error: unknown) => {
      assert.ok(error instanceof ServiceUnavailableError);
      assert.equal(error.code, 'unavailable');
      return true;
    });
    assert.equal(down.hits(), 2);
  } finally {
    await down.close();
  }

  const dropsFirst = await stub([(req) => req.socket.destroy(), ok]);
  try {
    const chronos = new Chronos({ ...fast, baseUrl: dropsFirst.url });
    assert.deepEqual((await chronos.jobs.list()).data, []);
    assert.equal(dropsFirst.hits(), 2);
  } finally {
    await dropsFirst.close();
  }

  const nobody = `http://127.0.0.1:${await freePort()}`;
  const chronos = new Chronos({ ...fast, baseUrl: nobody, maxRetries: 2 });
  await assert.rejects(chronos.jobs.list(), (error: unknown) => {
    assert.ok(error instanceof ConnectionFailed);
    assert.equal(error.code, 'connection_failed');
    assert.equal(error.status, 0);
    assert.match(error.message, /cannot reach Chronos at http:\/\/127\.0\.0\.1/);
    return true;
  });
});

test('an aborted call is not retried; a timed-out GET is, a timed-out POST is not', async () => {
  const hanging = await stub([() => undefined]);
  try {
    const chronos = new Chronos({ apiKey: 'chrns_stub', baseUrl: hanging.url });
    const controller = new AbortController();
    const call = chronos.jobs.list({}, { signal: controller.signal });
    controller.abort(new Error('user gave up'));
    await assert.rejects(call, /user gave up/);
    assert.ok(hanging.hits() <= 1, 'not retried');
  } finally {
    await hanging.close();
  }

  const slow = await stub([() => undefined]);
  try {
    const timed = new Chronos({
      apiKey: 'chrns_stub',
      baseUrl: slow.url,
      timeoutMs: 100,
      maxRetries: 1,
      retryBaseMs: 10,
    });
    const timedOut = (error: unknown) =>
      error instanceof ConnectionFailed &&
      error.timedOut &&
      /timed out after 0.1s/.test(error.message);
    await assert.rejects(timed.jobs.list(), timedOut);
    assert.equal(slow.hits(), 2, 'the GET was sent twice');
    // The server may have created the job: sending it again could create it twice.
    await assert.rejects(timed.jobs.create({ handler: 'h' }), timedOut);
    assert.equal(slow.hits(), 3, 'the POST was sent once');
  } finally {
    await slow.close();
  }
});
