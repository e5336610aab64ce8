// verifyWebhook: the Python SDK's rules (header, "<t>.<raw body>", several v1=, tolerance),
// and real push requests from the server to a local Node endpoint, through the example
// Request → Response handler; a tampered body is rejected.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { test } from 'node:test';

import {
  InvalidSignature,
  computeSignature,
  parseSignatureHeader,
  signatureHeader,
  verifyWebhook,
} from '@chronos.sh/sdk';

import { createPushHandler, type PushEnvelope } from '../examples/push-handler.js';
import { chronosBin } from '../scripts/server.mjs';
import { client, unique, waitFor } from './support/server.js';

const now = () => Math.floor(Date.now() / 1000);

test('verifyWebhook accepts a fresh signature and rejects everything else', async () => {
  const body = '{"job_id":"job_1","payload":{"ü":1}}';
  const t = now();
  const header = await signatureHeader(['whsec_new', 'whsec_old'], t, body);
  assert.equal(header.split(',').length, 3);
  // Either secret verifies; header names are case-insensitive; string or bytes.
  await verifyWebhook(body, { 'x-chronos-signature': header }, 'whsec_new');
  await verifyWebhook(
    new TextEncoder().encode(body),
    new Headers({ 'X-Chronos-Signature': header }),
    'whsec_old',
  );
  await verifyWebhook(body, new Map([['X-CHRONOS-SIGNATURE', header]]), 'whsec_old');
  await verifyWebhook(body, [['x-chronos-signature', header]], 'whsec_new');

  const rejects = (promise: Promise<void>, message: RegExp) =>
    assert.rejects(
      promise,
      (error: unknown) => error instanceof InvalidSignature && message.test(error.message),
    );
  await rejects(verifyWebhook(body, {}, 'whsec_new'), /missing X-Chronos-Signature/);
  await rejects(verifyWebhook(body, { 'X-Chronos-Signature': 'v1=abc' }, 'whsec_new'), /malformed/);
  await rejects(verifyWebhook(body, { 'X-Chronos-Signature': `t=${t}` }, 'whsec_new'), /malformed/);
  await rejects(
    verifyWebhook(body, { 'X-Chronos-Signature': header }, 'whsec_other'),
    /no signature matches/,
  );
  await rejects(
    verifyWebhook(body + ' ', { 'X-Chronos-Signature': header }, 'whsec_new'),
    /no signature matches/,
  );
  const upper = header.replace(/v1=([0-9a-f]+)/g, (_, hex: string) => `v1=${hex.toUpperCase()}`);
  await rejects(
    verifyWebhook(body, { 'X-Chronos-Signature': upper }, 'whsec_new'),
    /no signature matches/,
  );

  // Tolerance: 300 s by default, either way, boundaries included; `now` pins the clock.
  const at = new Date(t * 1000);
  const signedAt = (offset: number) => signatureHeader(['whsec_new'], t + offset, body);
  for (const offset of [-300, 300]) {
    const header = { 'X-Chronos-Signature': await signedAt(offset) };
    await verifyWebhook(body, header, 'whsec_new', { now: at });
  }
  for (const offset of [-301, 301]) {
    const header = { 'X-Chronos-Signature': await signedAt(offset) };
    await rejects(verifyWebhook(body, header, 'whsec_new', { now: at }), /outside the tolerance/);
    await verifyWebhook(body, header, 'whsec_new', { now: at, tolerance: 301 });
  }
  // Without `now`, the real clock.
  const stale = { 'X-Chronos-Signature': await signedAt(-3600) };
  await rejects(verifyWebhook(body, stale, 'whsec_new'), /outside the tolerance/);

  assert.deepEqual(parseSignatureHeader(' t=12 , v1=aa ,v0=bb, v1=cc'), {
    timestamp: 12,
    signatures: ['aa', 'cc'],
  });
});

test('signatures match the Python SDK byte for byte', async (t) => {
  const python = join(dirname(chronosBin()), 'python');
  if (!existsSync(python)) return t.skip(`no Python next to ${chronosBin()}`);
  const body = '{"payload":{"emoji":"⏰","text":"naïve"}}';
  const script =
    'import sys; from chronos.webhooks import signature_header; ' +
    'print(signature_header(["s3cr\\u00e9t", "old"], 1767225600, sys.stdin.buffer.read()))';
  const fromPython = execFileSync(python, ['-c', script], { input: body, encoding: 'utf8' }).trim();
  assert.equal(fromPython, await signatureHeader(['s3crét', 'old'], 1767225600, body));
  assert.equal(
    fromPython.split(',')[1],
    `v1=${await computeSignature('s3crét', 1767225600, body)}`,
  );
  await verifyWebhook(body, { 'X-Chronos-Signature': fromPython }, 's3crét', {
    now: new Date(1767225600_000),
  });
});

interface Received {
  headers: IncomingHttpHeaders;
  body: Buffer;
  status: number;
}

/** A local endpoint that hands each push to the example `Request → Response` handler. */
async function endpoint(secret: () => string, work: (job: PushEnvelope) => Promise<unknown>) {
  const received: Received[] = [];
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const request = new Request(`http://127.0.0.1${req.url}`, {
      method: req.method,
      headers: Object.entries(req.headers).flatMap(([k, v]) =>
        typeof v === 'string' ? [[k, v] as [string, string]] : [],
      ),
      body: req.method === 'GET' || req.method === 'HEAD' ? undefined : body,
    });
    const response = await createPushHandler(secret(), work)(request);
    received.push({ headers: req.headers, body, status: response.status });
    res.writeHead(response.status, Object.fromEntries(response.headers));
    res.end(Buffer.from(await response.arrayBuffer()));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/chronos`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

test('a real push request from the server verifies; a tampered body or wrong secret does not', async () => {
  const chronos = await client();
  let secret = (await chronos.signingSecrets.list())[0]?.secret ?? '';
  const jobsSeen: PushEnvelope[] = [];
  const target = await endpoint(
    () => secret,
    async (job) => {
      jobsSeen.push(job);
      return { handled: job.job_id };
    },
  );
  try {
    const handler = unique('notify');
    const job = await chronos.jobs.create({
      handler,
      payload: { event: 'subscription.created', data: { id: 'sub_123' } },
      delivery: { type: 'push', http: { url: target.url } },
      max_retries: 0,
    });
    const done = await waitFor(
      async () => {
        const current = await chronos.jobs.get(job.id);
        return current.status === 'completed' || current.status === 'failed' ? current : undefined;
      },
      { what: 'the push job finishing' },
    );
    assert.equal(done.status, 'completed', JSON.stringify(done.executions));
    assert.equal(done.executions[0]?.http_status, 200);
    assert.match(String(done.executions[0]?.response_excerpt), new RegExp(job.id));
    assert.equal(jobsSeen[0]?.job_id, job.id);
    assert.deepEqual(jobsSeen[0]?.payload, {
      event: 'subscription.created',
      data: { id: 'sub_123' },
    });

    const [push] = target.received;
    assert.ok(push);
    assert.equal(push.headers['x-chronos-job-id'], job.id);
    assert.equal(push.headers['x-chronos-attempt'], '1');
    await verifyWebhook(push.body, push.headers, secret);
    await verifyWebhook(push.body.toString('utf8'), push.headers, secret);
    const tampered = Buffer.from(push.body.toString('utf8').replace('sub_123', 'sub_999'));
    await assert.rejects(verifyWebhook(tampered, push.headers, secret), InvalidSignature);
    await assert.rejects(verifyWebhook(push.body, push.headers, `${secret}x`), InvalidSignature);

    // After a rotation each request carries two signatures: either secret verifies it.
    const [newest, previous] = await chronos.signingSecrets.rotate();
    assert.ok(newest && previous);
    const second = await chronos.jobs.create({
      handler,
      delivery: { type: 'push', http: { url: target.url } },
      max_retries: 0,
    });
    await waitFor(() => target.received.length >= 2, { what: 'the second push' });
    const rotated = target.received[1]!;
    assert.equal(rotated.headers['x-chronos-job-id'], second.id);
    assert.equal(String(rotated.headers['x-chronos-signature']).match(/v1=/g)?.length, 2);
    await verifyWebhook(rotated.body, rotated.headers, newest.secret);
    await verifyWebhook(rotated.body, rotated.headers, previous.secret);

    // The example handler refuses a request that is not Chronos's: 401, a terminal failure.
    secret = 'whsec_someone_else';
    const refused = await chronos.jobs.create({
      handler,
      delivery: { type: 'push', http: { url: target.url } },
      max_retries: 2,
    });
    const failed = await waitFor(
      async () => {
        const current = await chronos.jobs.get(refused.id);
        return current.status === 'failed' ? current : undefined;
      },
      { what: 'the refused push failing' },
    );
    assert.equal(failed.executions.length, 1, 'a 401 is not retried');
    assert.equal(failed.executions[0]?.http_status, 401);
    assert.match(String(failed.executions[0]?.response_excerpt), /no signature matches/);
  } finally {
    await target.close();
  }
});
