// Seed 000 end to end: its worker example runs as written (examples/seed-000-worker.ts, in its
// own process, configured only by CHRONOS_API_KEY and CHRONOS_URL); the schedule is created by
// the seed's own curl command; the worker picks the job up and its output is recorded; SIGTERM
// stops the worker cleanly.

import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';

import type { JobWithExecutions } from '@chronos.sh/sdk';

import { client, root, testServer, waitFor, within } from './support/server.js';

// The seed's command, with its host and key replaced by the test server's.
const SEED_BODY =
  '{ "name": "Hourly tenant sync", "handler": "sync-tenant", "interval": { "value": 1, "unit": "hour" }, "payload": { "full": false } }';

async function createScheduleAsTheSeedDoes(url: string, apiKey: string): Promise<{ id: string }> {
  const args = [
    '-sS',
    '-X',
    'POST',
    `${url}/v1/schedules`,
    '-H',
    `Authorization: Bearer ${apiKey}`,
    '-H',
    'Content-Type: application/json',
    '-d',
    SEED_BODY,
  ];
  if (spawnSync('curl', ['--version']).status === 0) {
    return JSON.parse(execFileSync('curl', args, { encoding: 'utf8' }));
  }
  // No curl on this machine: the same request with fetch.
  const answer = await fetch(`${url}/v1/schedules`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${apiKey}`, 'Content-Type': 'application/json' },
    body: SEED_BODY,
  });
  return answer.json() as Promise<{ id: string }>;
}

test('seed 000 example worker runs the job the seed curl schedules and exits on SIGTERM', async () => {
  const server = await testServer();
  const chronos = await client();
  const worker = spawn(process.execPath, [join(root, 'build', 'examples', 'seed-000-worker.js')], {
    env: { ...process.env, CHRONOS_URL: server.url, CHRONOS_API_KEY: server.apiKey },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  worker.stdout.on('data', (chunk) => (output += chunk));
  worker.stderr.on('data', (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) =>
    worker.once('exit', (code) => resolve(code)),
  );
  try {
    const schedule = await createScheduleAsTheSeedDoes(server.url, server.apiKey);
    assert.match(schedule.id, /^sch_/);
    const created = await chronos.schedules.get('Hourly tenant sync');
    assert.equal(created.handler, 'sync-tenant');
    assert.deepEqual(created.payload, { full: false });
    assert.deepEqual(created.interval, { value: 1, unit: 'hour' });

    // The first slot is an hour away: run it now, as the dashboard's "Run now" does.
    const job = await chronos.schedules.trigger(schedule.id);
    const done = await waitFor(
      async () => {
        const current = await chronos.jobs.get(job.id);
        return current.status === 'completed' ? current : undefined;
      },
      { what: `job ${job.id} completed (worker output: ${output})` },
    );
    const finished: JobWithExecutions = done;
    assert.deepEqual(finished.result, { synced: 3 });
    assert.equal(finished.executions.length, 1);
    assert.deepEqual(finished.executions[0]?.output, { synced: 3 });
    assert.equal(finished.schedule_id, schedule.id);
    for (const tenant of ['tenant_a', 'tenant_b', 'tenant_c']) {
      assert.match(output, new RegExp(`synced ${tenant} \\{"full":false\\}`));
    }

    worker.kill('SIGTERM');
    const code = await within(exited, 10_000, 'the worker stopping on SIGTERM');
    assert.equal(code, 0, `the worker should exit 0 on SIGTERM; output:\n${output}`);
  } finally {
    worker.kill('SIGKILL');
  }
});
