// npm test (after `pretest` built the package and the tests): one real `chronos serve` for
// the whole run, then Node's test runner over build/test/*.test.js. Each test file uses the
// server named by CHRONOS_TEST_URL / CHRONOS_TEST_API_KEY (it starts its own without them).

import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

import { sdkRoot, startServer } from './server.mjs';

const directory = join(sdkRoot(), 'build', 'test');
const files = readdirSync(directory)
  .filter((name) => name.endsWith('.test.js'))
  .sort()
  .map((name) => join(directory, name));
const server = await startServer();
let code = 1;
try {
  const runner = spawn(process.execPath, ['--test', ...process.argv.slice(2), ...files], {
    stdio: 'inherit',
    env: { ...process.env, CHRONOS_TEST_URL: server.url, CHRONOS_TEST_API_KEY: server.apiKey },
  });
  code = await new Promise((resolve) => runner.once('exit', (status) => resolve(status ?? 1)));
} finally {
  await server.stop();
}
process.exit(code);
