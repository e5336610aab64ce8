// npm run build: dist/esm (ES modules + .d.ts) and dist/cjs (CommonJS + .d.ts), with tsc.

import { execFileSync } from 'node:child_process';
import { copyFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

import { sdkRoot } from './server.mjs';

const root = sdkRoot();
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
rmSync(join(root, 'dist'), { recursive: true, force: true });
for (const project of ['tsconfig.json', 'tsconfig.cjs.json']) {
  execFileSync(process.execPath, [tsc, '-p', join(root, project)], { stdio: 'inherit', cwd: root });
}
// tsc does not copy declaration files: the generated API types go along by hand.
for (const flavour of ['esm', 'cjs']) {
  copyFileSync(join(root, 'src', 'openapi.d.ts'), join(root, 'dist', flavour, 'openapi.d.ts'));
}
// dist/cjs holds .js files that are CommonJS while the package says "type": "module".
writeFileSync(join(root, 'dist', 'cjs', 'package.json'), '{ "type": "commonjs" }\n');
