// The package itself: its API types are the running server's (no drift), it loads as ESM and
// CommonJS, its core uses no Node-only module, and the Express example parses.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { test } from 'node:test';

import * as sdk from '@chronos.sh/sdk';

import { renderTypes } from '../scripts/openapi-types.mjs';
import { root, testServer } from './support/server.js';

test('src/openapi.d.ts is what the running server generates (run `npm run gen` if not)', async () => {
  const server = await testServer();
  const answer = await fetch(`${server.url}/openapi.json`);
  assert.equal(answer.status, 200);
  const fresh = await renderTypes(await answer.json());
  const committed = readFileSync(join(root, 'src', 'openapi.d.ts'), 'utf8');
  if (fresh !== committed) {
    const freshLines = fresh.split('\n');
    const committedLines = committed.split('\n');
    const at = freshLines.findIndex((line, i) => line !== committedLines[i]);
    assert.fail(
      "src/openapi.d.ts differs from the server's /openapi.json: run `npm run gen` in sdks/typescript " +
        `and fix what no longer compiles.\nfirst difference at line ${at + 1}:\n` +
        `  committed: ${committedLines[at]}\n  server:    ${freshLines[at]}`,
    );
  }
});

test('the package loads with require() as well as import', () => {
  const required = createRequire(import.meta.url)('@chronos.sh/sdk') as typeof sdk;
  assert.equal(typeof required.Chronos, 'function');
  assert.equal(typeof required.verifyWebhook, 'function');
  assert.equal(typeof sdk.Chronos, 'function');
  assert.equal(new required.NonRetryable('x').name, 'NonRetryable');
});

test('the built core imports no Node-only module and reads process only behind a guard', () => {
  const files = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
      entry.isDirectory()
        ? files(join(dir, entry.name))
        : entry.name.endsWith('.js')
          ? [join(dir, entry.name)]
          : [],
    );
  const esm = files(join(root, 'dist', 'esm'));
  assert.ok(esm.length > 5);
  for (const file of esm) {
    const text = readFileSync(file, 'utf8')
      .replace(/\/\*[\s\S]*?\*\//g, '')
      .replace(/^\s*\/\/.*$/gm, '');
    const imports = [
      ...text.matchAll(/^\s*(?:import|export)\b[^;]*?from\s+['"]([^'"]+)['"]/gm),
    ].map((m) => m[1] ?? '');
    for (const name of imports)
      assert.ok(name.startsWith('./') || name.startsWith('../'), `${file} imports ${name}`);
    assert.doesNotMatch(text, /\brequire\(/, file);
    assert.doesNotMatch(text, /(^|[^.\w])process\./m, `${file} touches process directly`);
    assert.doesNotMatch(text, /\bBuffer\b/, `${file} uses Buffer`);
  }
});

test('the Express example is valid JavaScript', () => {
  execFileSync(process.execPath, ['--check', join(root, 'examples', 'express-receiver.mjs')]);
});
