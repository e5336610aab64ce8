// The worker against a real server: results, failures and retries, NonRetryable, heartbeats,
// cancel through ctx.signal, concurrency, graceful stop, a refused key.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  AuthenticationError,
  type Chronos,
  JobAborted,
  type JobWithExecutions,
  NonRetryable,
} from '@chronos.sh/sdk';

import { client, deferred, testServer, unique, waitFor, within } from './support/server.js';

/** Start `chronos.worker` (no signal handlers, quiet); the returned function stops it. */
function run(chronos: Chronos, concurrency = 1): () => Promise<void> {
  const running = chronos.worker.start({ concurrency, handleSignals: false, logger: null });
  return async () => {
    chronos.worker.stop();
    await within(running, 10_000, 'the worker stopping');
  };
}

async function finished(
  chronos: Chronos,
  jobId: string,
  status: string,
): Promise<JobWithExecutions> {
  return waitFor(
    async () => {
      const job = await chronos.jobs.get(jobId);
      return job.status === status ? job : undefined;
    },
    { what: `job ${jobId} ${status}` },
  );
}

test('a thrown error fails the attempt with its message and stack; the retry returns the output', async () => {
  const chronos = await client();
  const handler = unique('flaky');
  const seen: Array<{ attempt: number; payload: unknown }> = [];
  chronos.worker.handle(handler, async (ctx) => {
    seen.push({ attempt: ctx.attempt, payload: ctx.payload });
    if (ctx.attempt === 1) throw new TypeError('tenant database unreachable');
    return { attempt: ctx.attempt, at: new Date(0) };
  });
  const stop = run(chronos);
  try {
    // No payload sent: the handler sees {}.
    const job = await chronos.jobs.create({
      handler,
      max_retries: 2,
      retry_policy: { initial_interval: '0.2s' },
    });
    const done = await finished(chronos, job.id, 'completed');
    assert.deepEqual(seen, [
      { attempt: 1, payload: {} },
      { attempt: 2, payload: {} },
    ]);
    assert.equal(done.attempt, 2);
    const [failed, succeeded] = done.executions;
    assert.equal(failed?.status, 'failed');
    assert.equal(failed?.error?.type, 'TypeError');
    assert.equal(failed?.error?.message, 'tenant database unreachable');
    assert.match(
      String(failed?.error?.traceback),
      /TypeError: tenant database unreachable\n\s+at /,
    );
    assert.match(String(failed?.error?.traceback), /worker\.test\.js/);
    assert.equal(succeeded?.status, 'completed');
    // The return value is the output, as JSON (a Date becomes its ISO text).
    assert.deepEqual(succeeded?.output, { attempt: 2, at: '1970-01-01T00:00:00.000Z' });
    assert.deepEqual(done.result, succeeded?.output);
  } finally {
    await stop();
  }
});

test('NonRetryable fails the job for good after one attempt', async () => {
  const chronos = await client();
  const handler = unique('charge');
  let calls = 0;
  chronos.worker.handle(handler, async (ctx) => {
    calls++;
    throw new NonRetryable(`card declined for ${(ctx.payload as { invoice: string }).invoice}`);
  });
  const stop = run(chronos);
  try {
    const job = await chronos.jobs.create({
      handler,
      payload: { invoice: 'inv_789' },
      max_retries: 3,
    });
    const done = await finished(chronos, job.id, 'failed');
    assert.equal(calls, 1);
    assert.equal(done.attempt, 1);
    assert.equal(done.executions.length, 1);
    assert.equal(done.executions[0]?.error?.type, 'NonRetryable');
    assert.equal(done.executions[0]?.error?.message, 'card declined for inv_789');
  } finally {
    await stop();
  }
});

test('heartbeats keep a job alive past its timeout while an unbeaten claim times out', async () => {
  const chronos = await client();
  const handler = unique('long');
  const control = unique('no-heartbeat');
  chronos.worker.handle(handler, async () => {
    // The job itself takes 3.5 s: more than twice its 1.5 s lease (a heartbeat every 0.5 s).
    await new Promise((resolve) => setTimeout(resolve, 3500));
    return { done: true };
  });
  const stop = run(chronos);
  try {
    const job = await chronos.jobs.create({ handler, timeout: 1.5, max_retries: 0 });
    // The control: claimed by hand and never heartbeaten, with the same timeout.
    const unbeaten = await chronos.jobs.create({
      handler: control,
      timeout: '1.5s',
      max_retries: 0,
    });
    const claim = await chronos.request<{ jobs: Array<{ id: string }> }>(
      'post',
      '/v1/worker/jobs/claim',
      {
        body: { handlers: [control], wait_seconds: 5 },
      },
    );
    assert.deepEqual(
      claim.jobs.map((j) => j.id),
      [unbeaten.id],
    );

    const lost = await finished(chronos, unbeaten.id, 'failed');
    assert.equal(lost.executions[0]?.status, 'timeout');
    const done = await finished(chronos, job.id, 'completed');
    assert.equal(done.executions.length, 1);
    assert.equal(done.executions[0]?.status, 'completed');
    assert.ok(
      (done.executions[0]?.duration_ms ?? 0) >= 3400,
      `ran ${done.executions[0]?.duration_ms} ms`,
    );
    assert.deepEqual(done.result, { done: true });
  } finally {
    await stop();
  }
});

test('cancel reaches the running handler through ctx.signal', async () => {
  const chronos = await client();
  const handler = unique('cancellable');
  const started = deferred();
  const aborted = deferred<{ reason: unknown; cancelRequested: boolean }>();
  chronos.worker.handle(handler, async (ctx) => {
    started.resolve();
    await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve, { once: true }));
    aborted.resolve({ reason: ctx.signal.reason, cancelRequested: ctx.cancelRequested });
    throw ctx.signal.reason;
  });
  const stop = run(chronos);
  try {
    const job = await chronos.jobs.create({ handler, timeout: '1.5s' });
    await within(started.promise, 10_000, 'the handler starting');
    const canceled = await chronos.jobs.cancel(job.id);
    assert.equal(canceled.status, 'canceled');
    const seen = await within(aborted.promise, 10_000, 'the handler seeing the cancel');
    assert.ok(seen.reason instanceof JobAborted);
    assert.equal(seen.reason.code, 'job_canceled');
    assert.equal(seen.cancelRequested, true);
    const after = await chronos.jobs.get(job.id);
    assert.equal(after.status, 'canceled');
    assert.equal(after.executions[0]?.status, 'canceled');
  } finally {
    await stop();
  }
});

test('concurrency runs that many jobs at once', async () => {
  const chronos = await client();
  const handler = unique('parallel');
  let running = 0;
  let most = 0;
  const allRunning = deferred();
  chronos.worker.handle(handler, async () => {
    running++;
    most = Math.max(most, running);
    if (running === 3) allRunning.resolve();
    // Each waits until all three run together: with less concurrency this would never end.
    await within(allRunning.promise, 10_000, 'three jobs running at once');
    running--;
    return { most };
  });
  const stop = run(chronos, 3);
  try {
    const jobs = await chronos.jobs.createMany([{ handler }, { handler }, { handler }]);
    for (const job of jobs) await finished(chronos, job.id, 'completed');
    assert.equal(most, 3);
  } finally {
    await stop();
  }
});

test('stop() stops claiming, lets the in-flight job finish and report, then start() resolves', async () => {
  const chronos = await client();
  const handler = unique('graceful');
  const started = deferred();
  const release = deferred();
  chronos.worker.handle(handler, async () => {
    started.resolve();
    await release.promise;
    return { finished: true };
  });
  let resolved = false;
  const running = chronos.worker
    .start({ handleSignals: false, logger: null })
    .then(() => (resolved = true));
  const inFlight = await chronos.jobs.create({ handler });
  await within(started.promise, 10_000, 'the handler starting');
  chronos.worker.stop();
  const later = await chronos.jobs.create({ handler });
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(resolved, false, 'start() waits for the in-flight job');
  release.resolve();
  await within(running, 10_000, 'start() resolving');
  assert.equal(chronos.worker.running, false);
  const done = await chronos.jobs.get(inFlight.id);
  assert.equal(done.status, 'completed');
  assert.deepEqual(done.result, { finished: true });
  assert.deepEqual(
    (await chronos.jobs.get(later.id)).executions,
    [],
    'nothing claimed after stop()',
  );
  await chronos.jobs.cancel(later.id);
});

test('a refused API key ends start() with AuthenticationError', async () => {
  const server = await testServer();
  const chronos = await client({ apiKey: 'chrns_not_a_real_key_000000000000' });
  assert.equal(chronos.baseUrl, server.url);
  chronos.worker.handle(unique('nobody'), async () => null);
  await assert.rejects(
    within(chronos.worker.start({ handleSignals: false, logger: null }), 10_000, 'start() failing'),
    (error: unknown) => error instanceof AuthenticationError && error.status === 401,
  );
});
