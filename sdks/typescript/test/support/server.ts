// The Chronos the tests talk to, and small helpers. `npm test` starts one `chronos serve` for
// the whole run (CHRONOS_TEST_URL / CHRONOS_TEST_API_KEY); a test file run alone starts its own
// (`npm run pretest && node --test build/test/worker.test.js`).

import { randomUUID } from 'node:crypto';

import { Chronos, type ChronosOptions } from '@chronos.sh/sdk';

import { sdkRoot, startServer } from '../../scripts/server.mjs';

export interface TestServer {
  url: string;
  apiKey: string;
}

let shared: Promise<TestServer> | undefined;

export function testServer(): Promise<TestServer> {
  shared ??= (async () => {
    const url = process.env.CHRONOS_TEST_URL;
    const apiKey = process.env.CHRONOS_TEST_API_KEY;
    if (url && apiKey) return { url, apiKey };
    // Stopped when this test process exits.
    return startServer();
  })();
  return shared;
}

export async function client(options: ChronosOptions = {}): Promise<Chronos> {
  const server = await testServer();
  return new Chronos({ apiKey: server.apiKey, baseUrl: server.url, ...options });
}

export function unique(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

/** Poll `condition` until it returns something truthy (bounded); that value is returned. */
export async function waitFor<T>(
  condition: () => T | Promise<T>,
  { timeoutMs = 15_000, intervalMs = 50, what = 'condition' } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await condition();
    if (last) return last as NonNullable<T>;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  throw new Error(`${what} not met within ${timeoutMs} ms (last: ${JSON.stringify(last)})`);
}

/** A promise with its resolve, for handlers that wait on the test. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

export const root = sdkRoot();

/** `promise`, or a rejection naming `what` after `ms` (the timer does not outlive it). */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}
