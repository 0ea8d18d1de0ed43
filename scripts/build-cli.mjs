#!/usr/bin/env node
// `npm run build:cli` (and `npm pack` in cli/, through its prepack script): builds the client
// package (the CLI imports it by name: `member-roles-client`), then compiles the CLI to
// cli/dist/ (cli/tsconfig.json), makes its entry point executable and puts the project's LICENSE
// in the package. In this checkout the name resolves through node_modules/member-roles-client, a
// link to client/ (the root package.json's `file:client`); an installed CLI gets the client as a
// dependency.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(root, 'cli');
const dist = path.join(cli, 'dist');

const run = (args, cwd) => {
  const child = spawnSync(process.execPath, args, { cwd, stdio: 'inherit' });
  if (child.status !== 0) process.exit(child.status ?? 1);
};

run([path.join(root, 'scripts', 'build-client.mjs')], root);
fs.rmSync(dist, { recursive: true, force: true });
run([path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], cli);
fs.chmodSync(path.join(dist, 'main.js'), 0o755);
fs.copyFileSync(path.join(root, 'LICENSE'), path.join(cli, 'LICENSE'));
console.error(`Built ${path.relative(process.cwd(), dist) || dist}/`);
