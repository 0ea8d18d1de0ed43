// The bench's child processes: the service (dist/server/main.js, unchanged) and the baseline.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(here, '..', '..');
const counterHook = path.join(here, 'pglite-statements.mjs');
const START_TIMEOUT_MS = 120_000;

/**
 * Starts `node script` and resolves once stdout matched `ready` (its first group is the URL).
 * After that stdout keeps being read and thrown away, as a log shipper would. With
 * `countPgliteStatements` the process loads the statement counter and gets an IPC channel.
 */
function startChild(name, script, env, { ready, countPgliteStatements, nodeArgs = [] }) {
  const args = [...nodeArgs, ...(countPgliteStatements ? ['--import', counterHook] : []), script];
  const child = spawn(process.execPath, args, {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit', ...(countPgliteStatements ? ['ipc'] : [])],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (chunk) => {
      out += chunk;
      const url = ready.exec(out)?.[1];
      if (!url) return;
      child.stdout.off('data', onData);
      child.stdout.resume(); // drained to nowhere from now on
      child.off('exit', onExit);
      clearTimeout(timer);
      resolve(handle(name, child, url));
    };
    const onExit = (code) =>
      reject(new Error(`${name} exited with ${code} before it was ready:\n${out}`));
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      reject(new Error(`${name} was not ready within ${START_TIMEOUT_MS / 1000} s:\n${out}`));
    }, START_TIMEOUT_MS);
    child.stdout.on('data', onData);
    child.on('exit', onExit);
  });
}

function handle(name, child, url) {
  return {
    name,
    url,
    pid: child.pid,
    /** Statements this process's PGlite has executed so far (null when not counted). */
    statements: () => askStatements(child),
    stop: () => stopChild(child),
  };
}

function askStatements(child) {
  if (!child.send || !child.connected) return Promise.resolve(null);
  return new Promise((resolve) => {
    const done = (statements) => {
      clearTimeout(timer);
      child.off('message', onMessage);
      resolve(statements);
    };
    const onMessage = (message) => {
      if (message?.type === 'statements') done(message.statements);
    };
    // PGlite runs on the process's own thread: a long query delays the answer.
    const timer = setTimeout(() => done(null), 60_000);
    child.on('message', onMessage);
    child.send({ type: 'statements?' });
  });
}

/** SIGTERM to this child (by its pid) and wait for it to exit. */
function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

/** The node options `npm start` gives the service (`node OPTIONS dist/server/main.js`). */
function startOptions() {
  const { scripts } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
  const options = /\bnode((?: --?[\w-]+(?:=\S+)?)*) dist\/server\/main\.js/.exec(scripts.start);
  if (!options) throw new Error('package.json: "start" does not run node … dist/server/main.js');
  return options[1].split(' ').filter(Boolean);
}

/**
 * The service as it runs in production: `npm start`'s node options, NODE_ENV=production, logging
 * at info, rate limiting on with a limit this bench cannot reach in a minute, so the per-request
 * accounting is measured.
 */
export function startService({ databaseUrl, platformKey, countPgliteStatements, env = {} }) {
  return startChild(
    'service',
    path.join(root, 'dist', 'server', 'main.js'),
    {
      HOST: '127.0.0.1',
      PORT: '0',
      DATABASE_URL: databaseUrl,
      MEMBER_ROLES_DEMO: '0',
      MEMBER_ROLES_PLATFORM_KEY: platformKey,
      RATE_LIMIT_PER_MINUTE: '1000000', // the highest the service accepts
      LOG_LEVEL: 'info',
      NODE_ENV: 'production',
      ...env,
    },
    {
      ready: /is ready on (http:\/\/[\d.:]+)/,
      countPgliteStatements,
      // e.g. `--cpu-prof --cpu-prof-dir=/tmp/profiles`: a profile of the service under the load
      // (Node refuses --cpu-prof in NODE_OPTIONS).
      nodeArgs: [
        ...startOptions(),
        ...(process.env.BENCH_SERVICE_NODE_ARGS ?? '').split(/\s+/).filter(Boolean),
      ],
    },
  );
}

export function startBaseline({ databaseUrl, orgId, members, countPgliteStatements }) {
  return startChild(
    'baseline',
    path.join(here, 'baseline-server.mjs'),
    {
      BASELINE_DATABASE_URL: databaseUrl,
      BASELINE_ORG_ID: orgId,
      BASELINE_MEMBERS: String(members),
      NODE_ENV: 'production',
    },
    { ready: /baseline ready on (http:\/\/[\d.:]+)/, countPgliteStatements },
  );
}
