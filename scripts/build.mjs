#!/usr/bin/env node
// `npm run build`: compiles server/ and generated/routes.ts to dist/ (tsconfig.build.json) and
// copies generated/api.d.ts next to the compiled routes, because tsc never copies a .d.ts input
// and dist/generated/routes.d.ts imports it. The client package has its own build
// (scripts/build-client.mjs).
//
//   node scripts/build.mjs               always compile
//   node scripts/build.mjs --if-changed  compile only when an input changed since the last build
//                                        (`npm start` uses it, so a second start skips tsc)
//
// The last successful build leaves dist/.build-stamp: a hash of every input (what
// tsconfig.build.json includes, the tsconfigs, package.json, this script and the TypeScript
// version). Contents, not mtimes: a checkout or a copy that touches files without changing them
// does not force a build, and an edit that keeps the mtime does not escape one.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(root, 'dist');
const stampFile = path.join(dist, '.build-stamp');
const tscBin = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
// What tsc compiles (tsconfig.build.json's `include`: directories or files; a glob counts as the
// directory before its first wildcard), and what decides how.
const buildConfig = JSON.parse(fs.readFileSync(path.join(root, 'tsconfig.build.json'), 'utf8'));
const included = buildConfig.include.map((entry) => {
  const prefix = entry.split(/[*?{[]/)[0].replace(/\/$/, '');
  if (!prefix) throw new Error(`build.mjs: include "${entry}" would hash the whole project`);
  return prefix;
});
const INPUTS = [
  ...included,
  'tsconfig.json',
  'tsconfig.build.json',
  'package.json',
  'scripts/build.mjs',
  'node_modules/typescript/package.json',
];

const { values } = parseArgs({ options: { 'if-changed': { type: 'boolean', default: false } } });

/** Every file under `rel` (a file or a directory), as paths relative to the root, sorted. */
function filesUnder(rel) {
  const full = path.join(root, rel);
  if (!fs.existsSync(full)) return [];
  if (!fs.statSync(full).isDirectory()) return [rel];
  return fs
    .readdirSync(full, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(root, path.join(entry.parentPath, entry.name)))
    .sort();
}

function inputsHash() {
  const hash = createHash('sha256');
  for (const file of INPUTS.flatMap(filesUnder)) {
    hash.update(`${file}\0`);
    hash.update(fs.readFileSync(path.join(root, file)));
    hash.update('\0');
  }
  return hash.digest('hex');
}

const started = performance.now();
const hash = inputsHash();
if (values['if-changed']) {
  const previous = fs.existsSync(stampFile) ? fs.readFileSync(stampFile, 'utf8').trim() : null;
  if (previous === hash && fs.existsSync(path.join(dist, 'server', 'main.js'))) {
    const ms = Math.round(performance.now() - started);
    console.error(
      `dist/ is up to date: no source changed since the last build (checked in ${ms} ms)`,
    );
    process.exit(0);
  }
}

fs.rmSync(dist, { recursive: true, force: true });
const tsc = spawnSync(process.execPath, [tscBin, '-p', 'tsconfig.build.json'], {
  cwd: root,
  stdio: 'inherit',
});
if (tsc.status !== 0) process.exit(tsc.status ?? 1);

fs.mkdirSync(path.join(dist, 'generated'), { recursive: true });
fs.copyFileSync(path.join(root, 'generated', 'api.d.ts'), path.join(dist, 'generated', 'api.d.ts'));
// Written last: a build that fails or is interrupted leaves no stamp, so the next start rebuilds.
fs.writeFileSync(stampFile, `${hash}\n`);
const seconds = ((performance.now() - started) / 1000).toFixed(1);
console.error(`Built ${path.relative(process.cwd(), dist) || dist}/ in ${seconds} s`);
