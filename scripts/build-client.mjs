#!/usr/bin/env node
// `npm run build:client` (and `npm pack` in client/, through its prepack script): compiles the
// client package to client/dist/ (ESM JavaScript and .d.ts, client/tsconfig.json), copies the
// contract's types next to it (tsc never copies a .d.ts input, and dist/index.d.ts imports
// ./generated/api.js), and puts the project's LICENSE in the package.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const client = path.join(root, 'client');
const dist = path.join(client, 'dist');

fs.rmSync(dist, { recursive: true, force: true });
const tsc = spawnSync(
  process.execPath,
  [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'],
  { cwd: client, stdio: 'inherit' },
);
if (tsc.status !== 0) process.exit(tsc.status ?? 1);

fs.mkdirSync(path.join(dist, 'generated'), { recursive: true });
fs.copyFileSync(
  path.join(client, 'generated', 'api.d.ts'),
  path.join(dist, 'generated', 'api.d.ts'),
);
fs.copyFileSync(path.join(root, 'LICENSE'), path.join(client, 'LICENSE'));
console.error(`Built ${path.relative(process.cwd(), dist) || dist}/`);
