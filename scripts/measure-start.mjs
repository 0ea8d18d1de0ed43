#!/usr/bin/env node
// Measures how long `npm start` takes to be ready (from the command's start to its "is ready on"
// line), the figures quoted in the README:
//   cold: no dist/ and an empty PGlite directory, as on a fresh clone (compiles, creates the
//         database, runs migrations, seeds the demo organization);
//   warm: the second start: nothing changed, so no compilation, and the database exists;
//   node: `node dist/server/main.js` on the same database, the floor a warm start stands on
//         (run between the two others, so that all three see the same load on a shared machine).
// Each run uses PORT=0 and its own PGlite directory in a temporary folder (./.data is not touched),
// and is stopped with SIGINT once ready. Deletes dist/ before each cold run.
//
//   node scripts/measure-start.mjs [--runs N]   (default 5 of each)
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' } } });
const runs = Number(values.runs);

/** Seconds from spawning the command to its ready line; the process is then stopped. */
async function timeToReady(dataDir, command = ['npm', 'start', '--silent']) {
  const started = performance.now();
  const child = spawn(command[0], command.slice(1), {
    cwd: root,
    detached: true, // its own process group, so SIGINT reaches npm, sh and node alike
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      PORT: '0',
      DATABASE_URL: `file:${dataDir}`,
      LOG_LEVEL: 'warn',
    },
  });
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const seconds = await new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes(' is ready on ')) resolve((performance.now() - started) / 1000);
    });
    void exited.then(() => reject(new Error(`npm start exited before it was ready:\n${err}`)));
  });
  process.kill(-child.pid, 'SIGINT');
  await exited;
  return seconds;
}

function summary(label, samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  const f = (s) => `${s.toFixed(2)} s`;
  return `${label}: median ${f(median)} (min ${f(sorted[0])}, max ${f(sorted.at(-1))}, ${samples.length} runs)`;
}

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'member-roles-start-'));
const cold = [];
const warm = [];
const bare = [];
try {
  for (let run = 0; run < runs; run++) {
    const dataDir = path.join(scratch, `pglite-${run}`);
    fs.rmSync(path.join(root, 'dist'), { recursive: true, force: true });
    cold.push(await timeToReady(dataDir));
    bare.push(await timeToReady(dataDir, [process.execPath, 'dist/server/main.js']));
    warm.push(await timeToReady(dataDir));
    const last = (samples) => `${samples.at(-1).toFixed(2)} s`;
    console.error(`run ${run + 1}: cold ${last(cold)}, node ${last(bare)}, warm ${last(warm)}`);
  }
} finally {
  fs.rmSync(scratch, { recursive: true, force: true });
}
console.log(summary('cold start (fresh clone)', cold));
console.log(summary('warm start (nothing changed)', warm));
console.log(summary('node dist/server/main.js', bare));
