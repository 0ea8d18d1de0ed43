#!/usr/bin/env node
// `npm run bench`: throughput of the service's main paths, each as a ratio against baselines
// measured in the same run on the same machine (machines here are shared and noisy, so absolute
// figures mean little): a bare node:http server answering static JSON (the ceiling), and the
// service's own /healthz (the cost of the framework and contract validation alone).
// The service runs in its own process (NODE_ENV=production, rate limiting off) on PGlite in
// memory, or on DATABASE_URL when it names PostgreSQL. Env: BENCH_SECONDS (default 5),
// BENCH_CONNECTIONS (default 20).
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import pg from 'pg';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 20);
const onPostgres = /^postgres/.test(process.env.DATABASE_URL ?? '');

/** A database of its own for the run: PGlite in memory, or a scratch PostgreSQL database. */
async function benchDatabase() {
  if (!onPostgres) return { url: 'memory://', drop: async () => {} };
  const admin = process.env.DATABASE_URL;
  const name = `mr_bench_${process.pid}`;
  const run = async (statement) => {
    const client = new pg.Client({ connectionString: admin });
    await client.connect();
    try {
      await client.query(statement);
    } finally {
      await client.end();
    }
  };
  await run(`drop database if exists ${name} with (force)`);
  await run(`create database ${name}`);
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => run(`drop database if exists ${name} with (force)`) };
}
const database = await benchDatabase();
const databaseUrl = database.url;

function startService() {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(root, 'dist', 'server', 'main.js')], {
      cwd: root,
      env: {
        ...process.env,
        PORT: '0',
        DATABASE_URL: databaseUrl,
        MEMBER_ROLES_DEMO: '1',
        MEMBER_ROLES_PLATFORM_KEY: 'bench-platform-key-0123456789',
        RATE_LIMIT_PER_MINUTE: '0',
        LOG_LEVEL: 'silent',
        NODE_ENV: 'production',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const url = /ready on (http:\/\/[\d.:]+)/.exec(out)?.[1];
      const curl = /Bearer (mrk_[\w-]+)' \S+\/v1\/organizations\/(org_\w+)\/members/.exec(out);
      if (url && curl) resolve({ child, url, ownerKey: curl[1], orgId: curl[2] });
    });
    child.on('exit', (code) => reject(new Error(`service exited with ${code}:\n${out}`)));
    setTimeout(() => {
      child.kill('SIGTERM');
      reject(new Error(`service did not print its demo credentials within 60 s:\n${out}`));
    }, 60_000).unref();
  });
}

function bareServer() {
  const body = JSON.stringify({ status: 'ok' });
  const server = createServer((_req, res) => {
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
    });
    res.end(body);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function load(title, options) {
  const result = await autocannon({ connections, duration: seconds, ...options });
  const bad = result.non2xx + result.errors + result.timeouts;
  if (bad > 0)
    throw new Error(
      `${title}: ${bad} failed requests (non-2xx ${result.non2xx}, errors ${result.errors})`,
    );
  return { title, rps: result.requests.average, p99: result.latency.p99 };
}

async function api(base, key, method, route, body) {
  const res = await fetch(`${base}${route}`, {
    method,
    headers: { Authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  if (!res.ok) throw new Error(`${method} ${route}: ${res.status} ${await res.text()}`);
  return res.status === 204 ? undefined : res.json();
}

const bare = await bareServer();
const service = await startService();
try {
  const { url, ownerKey, orgId } = service;
  const auth = { authorization: `Bearer ${ownerKey}` };
  const org = `/v1/organizations/${orgId}`;

  // Enough members that a deep page is far from the first one.
  const members = 2000;
  process.stderr.write(`seeding ${members} members…\n`);
  for (let i = 0; i < members; i += 50) {
    await Promise.all(
      Array.from({ length: 50 }, (_, j) =>
        api(url, ownerKey, 'POST', `${org}/members`, {
          userId: `bench_${String(i + j).padStart(5, '0')}`,
          email: `b${i + j}@bench.test`,
        }),
      ),
    );
  }
  let cursor;
  for (let page = 0; page < 30; page += 1) {
    const list = await api(
      url,
      ownerKey,
      'GET',
      `${org}/members?limit=50${cursor ? `&cursor=${cursor}` : ''}`,
    );
    cursor = list.nextCursor;
  }

  const { port } = bare.address();
  const results = [];
  results.push(
    await load('bare node:http, static JSON (ceiling)', { url: `http://127.0.0.1:${port}/` }),
  );
  results.push(await load('GET /healthz (framework + validator)', { url: `${url}/healthz` }));
  results.push(
    await load('GET /v1/permissions (+ key lookup)', {
      url: `${url}/v1/permissions`,
      headers: auth,
    }),
  );
  results.push(
    await load('GET member (+ actor and member reads)', {
      url: `${url}${org}/members/bench_00042`,
      headers: auth,
    }),
  );
  results.push(
    await load('GET members, first page of 50', {
      url: `${url}${org}/members?limit=50`,
      headers: auth,
    }),
  );
  results.push(
    await load('GET members, page 31 of 50 (keyset)', {
      url: `${url}${org}/members?limit=50&cursor=${cursor}`,
      headers: auth,
    }),
  );
  let flip = 0;
  results.push(
    await load('PUT role (write + audit event)', {
      url,
      requests: [
        {
          method: 'PUT',
          path: `${org}/members/bench_00007/role`,
          headers: { ...auth, 'content-type': 'application/json' },
          setupRequest: (request) => ({
            ...request,
            body: JSON.stringify({ roleId: flip++ % 2 ? 'viewer' : 'member' }),
          }),
        },
      ],
    }),
  );

  // Access decisions: one question (one statement), and a batch of 50 (one statement too).
  const json = { ...auth, 'content-type': 'application/json' };
  const subject = { type: 'user', id: 'bench_00042' };
  const resource = { type: 'organization', id: orgId };
  results.push(
    await load('POST evaluation (one decision)', {
      url: `${url}/access/v1/evaluation`,
      method: 'POST',
      headers: json,
      body: JSON.stringify({ subject, action: { name: 'members:read' }, resource }),
    }),
  );
  const permissions = ['org:read', 'org:manage', 'members:read', 'members:invite', 'teams:read'];
  results.push(
    await load('POST evaluations (batch of 50)', {
      url: `${url}/access/v1/evaluations`,
      method: 'POST',
      headers: json,
      body: JSON.stringify({
        subject,
        resource,
        evaluations: Array.from({ length: 50 }, (_, i) => ({
          action: { name: permissions[i % permissions.length] },
        })),
      }),
    }),
  );

  const ceiling = results[0].rps;
  const health = results[1].rps;
  console.log(
    `\nmember-roles bench: ${seconds}s × ${connections} connections per case, database ${onPostgres ? 'PostgreSQL' : 'PGlite (memory)'}`,
  );
  console.log(
    'case'.padEnd(44),
    'req/s'.padStart(8),
    'p99 ms'.padStart(8),
    'vs bare'.padStart(8),
    'vs healthz'.padStart(11),
  );
  for (const r of results) {
    console.log(
      r.title.padEnd(44),
      r.rps.toFixed(0).padStart(8),
      String(r.p99).padStart(8),
      (r.rps / ceiling).toFixed(2).padStart(8),
      (r.rps / health).toFixed(2).padStart(11),
    );
  }
  const first = results[4].rps;
  const deep = results[5].rps;
  console.log(
    `\ndeep page / first page throughput: ${(deep / first).toFixed(2)} (keyset pagination: about 1)`,
  );
} finally {
  await new Promise((resolve) => {
    service.child.once('exit', resolve);
    service.child.kill('SIGTERM');
  });
  bare.close();
  await database.drop();
}
