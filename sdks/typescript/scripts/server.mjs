// A real `chronos serve` on SQLite in a temporary directory, for `npm run gen` and the tests.
//
//   const server = await startServer();   // { url, apiKey, stop() }
//
// The binary is $CHRONOS_BIN, else the repository's ../../.venv/bin/chronos (relative to the
// SDK folder), so it works in a fresh clone once `pip install -e '.[server]'` has run.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The SDK folder: the nearest directory above this file holding package.json. */
export function sdkRoot() {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('package.json not found above ' + import.meta.url);
    dir = parent;
  }
  return dir;
}

export function chronosBin() {
  return process.env.CHRONOS_BIN || resolve(sdkRoot(), '../../.venv/bin/chronos');
}

/** @returns {Promise<number>} a TCP port nobody listens on right now */
export function freePort() {
  return new Promise((resolvePort, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => resolvePort(port));
    });
  });
}

/**
 * @param {{ env?: Record<string, string>, timeoutMs?: number }} [options]
 * @returns {Promise<{ url: string, apiKey: string, logPath: string, stop: () => Promise<void> }>}
 */
export async function startServer(options = {}) {
  const bin = chronosBin();
  if (!existsSync(bin)) {
    throw new Error(
      `no chronos binary at ${bin}: install the server (pip install -e '.[server]') ` +
        'or point CHRONOS_BIN at one',
    );
  }
  const directory = await mkdtemp(join(tmpdir(), 'chronos-ts-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const apiKey = 'chrns_' + randomBytes(24).toString('base64url');
  const logPath = join(directory, 'chronos.log');
  const log = openSync(logPath, 'a');
  const child = spawn(
    bin,
    [
      'serve',
      '--database-url',
      `sqlite:///${directory}/chronos.db`,
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
    ],
    {
      env: {
        ...process.env,
        CHRONOS_BOOTSTRAP_API_KEY: apiKey,
        CHRONOS_LOG_LEVEL: 'warning',
        ...options.env,
      },
      stdio: ['ignore', log, log],
    },
  );
  closeSync(log);
  // The server does not keep this process alive; when this process ends, so does the server.
  child.unref();
  const killOnExit = () => {
    child.kill('SIGKILL');
    rmSync(directory, { recursive: true, force: true });
  };
  process.once('exit', killOnExit);
  let exited = false;
  const exit = new Promise((resolveExit) =>
    child.once('exit', () => {
      exited = true;
      resolveExit(undefined);
    }),
  );

  const stop = async () => {
    process.off('exit', killOnExit);
    if (!exited) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exit;
      clearTimeout(timer);
    }
    await rm(directory, { recursive: true, force: true });
  };

  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  while (Date.now() < deadline) {
    if (exited) break;
    try {
      const answer = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) });
      if (answer.ok) return { url, apiKey, logPath, stop };
    } catch {
      // not listening yet
    }
    await new Promise((wake) => setTimeout(wake, 50));
  }
  const output = readFileSync(logPath, 'utf8');
  await stop();
  throw new Error(`chronos serve did not come up at ${url}:\n${output}`);
}
