// npm run gen: regenerate src/openapi.d.ts from the API of the Chronos in this repository.
//
//   npm run gen                                  # starts ../../.venv/bin/chronos serve (or $CHRONOS_BIN)
//   npm run gen -- --from http://localhost:8080  # a running server's /openapi.json instead
//   npm run gen -- --from ./openapi.json         # or a saved document
//   npm run gen -- --check                       # exit 1 when the committed file is stale

import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { renderTypes } from './openapi-types.mjs';
import { sdkRoot, startServer } from './server.mjs';

const args = process.argv.slice(2);
const check = args.includes('--check');
const fromIndex = args.indexOf('--from');
const from = fromIndex >= 0 ? args[fromIndex + 1] : undefined;

async function loadSpec() {
  if (from && !/^https?:\/\//.test(from)) return JSON.parse(await readFile(from, 'utf8'));
  const server = from ? undefined : await startServer();
  const base = from ?? server?.url;
  try {
    const answer = await fetch(`${String(base).replace(/\/+$/, '')}/openapi.json`);
    if (!answer.ok) throw new Error(`GET ${base}/openapi.json: HTTP ${answer.status}`);
    return await answer.json();
  } finally {
    await server?.stop();
  }
}

const target = join(sdkRoot(), 'src', 'openapi.d.ts');
const fresh = await renderTypes(await loadSpec());
const current = await readFile(target, 'utf8').catch(() => '');
if (check) {
  if (fresh !== current) {
    console.error('src/openapi.d.ts is out of date with the API: run `npm run gen`');
    process.exit(1);
  }
  console.log('src/openapi.d.ts matches the API');
} else if (fresh === current) {
  console.log('src/openapi.d.ts is up to date');
} else {
  await writeFile(target, fresh);
  console.log('wrote src/openapi.d.ts');
}
