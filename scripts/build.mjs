#!/usr/bin/env node
// `npm run build`: compiles server/, client/ and generated/routes.ts to dist/ (tsconfig.build.json)
// and copies generated/api.d.ts next to the compiled routes, because tsc never copies a .d.ts input
// and dist/client/*.d.ts and dist/generated/routes.d.ts import it.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(root, 'dist');

fs.rmSync(dist, { recursive: true, force: true });
const tsc = spawnSync(
  process.execPath,
  [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'],
  { cwd: root, stdio: 'inherit' },
);
if (tsc.status !== 0) process.exit(tsc.status ?? 1);

fs.mkdirSync(path.join(dist, 'generated'), { recursive: true });
fs.copyFileSync(path.join(root, 'generated', 'api.d.ts'), path.join(dist, 'generated', 'api.d.ts'));
console.error(`Built ${path.relative(process.cwd(), dist) || dist}/`);
