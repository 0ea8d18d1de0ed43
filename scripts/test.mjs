#!/usr/bin/env node
// `npm test [-- jest args]`: runs Jest in ESM mode, streams its usual output, and prints as the last
// line `N passed, M failed` (CI reads that line). Exit code is Jest's.
// DATABASE_URL unset → tests use PGlite; set → they use that PostgreSQL (see scripts/postgres.sh).
import { spawn } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const jestBin = path.join(root, 'node_modules', 'jest', 'bin', 'jest.js');
const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'member-roles-jest-'));
const resultsFile = path.join(dir, 'results.json');

const nodeOptions = [
  process.env.NODE_OPTIONS,
  '--experimental-vm-modules',
  '--disable-warning=ExperimentalWarning',
]
  .filter(Boolean)
  .join(' ');
console.error(
  `Running tests against ${process.env.DATABASE_URL ? 'PostgreSQL (DATABASE_URL)' : 'PGlite'}`,
);

const child = spawn(
  process.execPath,
  [jestBin, '--json', `--outputFile=${resultsFile}`, ...process.argv.slice(2)],
  { cwd: root, stdio: 'inherit', env: { ...process.env, NODE_OPTIONS: nodeOptions } },
);
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));

const code = await new Promise((resolve) => {
  child.on('error', (error) => {
    console.error(error);
    resolve(1);
  });
  child.on('close', (status, signal) => resolve(status ?? (signal ? 1 : 0)));
});

let passed = 0;
let failed = 0;
try {
  const results = JSON.parse(await fs.readFile(resultsFile, 'utf8'));
  passed = results.numPassedTests;
  failed = results.numFailedTests;
  // A file that fails to load (syntax error, throwing import) reports no tests at all; count it
  // as one failure so the summary line cannot read "0 failed" for a broken run.
  if (results.numRuntimeErrorTestSuites > 0) {
    console.error(
      `${results.numRuntimeErrorTestSuites} test file(s) failed to run; each counts as 1 failed.`,
    );
    failed += results.numRuntimeErrorTestSuites;
  }
} catch {
  console.error('Jest wrote no results.');
}
if (code !== 0 && failed === 0) {
  console.error(`Jest exited with ${code} and no failed test; counting the run as 1 failed.`);
  failed = 1;
}
await fs.rm(dir, { recursive: true, force: true });
console.log(`${passed} passed, ${failed} failed`);
process.exit(code);
