// The databases a bench run uses, one kind per table printed: PGlite in a temporary data directory
// (as `npm start` runs it), or a scratch database on a PostgreSQL server. Each gives the URLs for
// the service and the baseline, a SQL connection for seeding while the service is stopped, and a
// statement counter.
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { root } from './processes.mjs';

/** PGlite: the service and the baseline each open their own data directory. */
export async function pgliteDatabase() {
  const dir = await mkdtemp(path.join(tmpdir(), 'member-roles-bench-'));
  const serviceDir = path.join(dir, 'service');
  return {
    title: 'PGlite (data directory, in the service process)',
    serviceUrl: `file:${serviceDir}`,
    baselineUrl: `file:${path.join(dir, 'baseline')}`,
    countPgliteStatements: true,
    countingMethod:
      'statements counted inside each process at PGlite’s protocol entry (scripts/bench/pglite-statements.mjs)',
    async openSql() {
      const pglite = new PGlite(serviceDir);
      await pglite.waitReady;
      return {
        query: async (text, params) => (await pglite.query(text, params)).rows,
        close: () => pglite.close(),
      };
    },
    /** Counts what the serving process's own PGlite executes, via its IPC channel. */
    statementCounter: (server) => cumulativeCounter(() => server.statements()),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

/** PostgreSQL: a scratch database for the run, dropped at its end; pg_stat_statements counts. */
export async function postgresDatabase(adminUrl) {
  const name = `mr_bench_${process.pid}`;
  await runOnce(adminUrl, `drop database if exists ${name} with (force)`);
  await runOnce(adminUrl, `create database ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const scratchUrl = url.toString();
  const stats = await openStatementStats(scratchUrl);
  return {
    title: `PostgreSQL (${url.host}, scratch database ${name})`,
    serviceUrl: scratchUrl,
    baselineUrl: scratchUrl,
    countPgliteStatements: false,
    countingMethod: stats.available
      ? 'top-level statements (BEGIN/COMMIT included) from pg_stat_statements, this database only'
      : `statements not counted: ${stats.reason}`,
    async openSql() {
      const client = new pg.Client({ connectionString: scratchUrl });
      await client.connect();
      return {
        query: async (text, params) => (await client.query(text, params)).rows,
        close: () => client.end(),
      };
    },
    statementCounter: () => stats.counter(),
    async cleanup() {
      await stats.close();
      await runOnce(adminUrl, `drop database if exists ${name} with (force)`);
    },
  };
}

/** A counter over a process-wide running total: the difference between two readings. */
function cumulativeCounter(read) {
  let before = null;
  return {
    start: async () => {
      before = await read();
    },
    read: async () => {
      const now = await read();
      return now === null || before === null ? null : now - before;
    },
  };
}

/**
 * pg_stat_statements of the scratch database alone: reset for this database only (other users
 * of a shared server keep theirs), then the sum of `calls` of top-level statements. Nested ones
 * (foreign-key checks, statements inside functions) are not round trips and are left out, as are
 * this bench's own queries of pg_stat_statements.
 */
async function openStatementStats(scratchUrl) {
  const client = new pg.Client({ connectionString: scratchUrl });
  await client.connect();
  try {
    await client.query('create extension if not exists pg_stat_statements');
    await client.query('select 1 from pg_stat_statements limit 1');
  } catch (error) {
    await client.end();
    return {
      available: false,
      reason: error.message,
      counter: () => ({ start: async () => {}, read: async () => null }),
      close: async () => {},
    };
  }
  const thisDatabase = '(select oid from pg_database where datname = current_database())';
  const deallocations = async () =>
    Number((await client.query('select dealloc from pg_stat_statements_info')).rows[0].dealloc);
  return {
    available: true,
    counter() {
      let dealloc = 0;
      let evicted = false;
      return {
        start: async () => {
          await client.query(`select pg_stat_statements_reset(0, ${thisDatabase}, 0)`);
          dealloc = await deallocations();
          evicted = false;
        },
        read: async () => {
          const { rows } = await client.query(
            `select coalesce(sum(calls), 0)::bigint as calls from pg_stat_statements
             where dbid = ${thisDatabase} and toplevel and query not like '%pg_stat_statements%'`,
          );
          evicted ||= (await deallocations()) !== dealloc;
          return Number(rows[0].calls);
        },
        // When the server's table of statements is full (other databases use it too), the least
        // used entries are evicted: rarely a case's own, which it runs over and over.
        caveat: () =>
          evicted
            ? 'pg_stat_statements evicted entries of this shared server (the least used first) during the case'
            : undefined,
      };
    },
    close: () => client.end(),
  };
}

async function runOnce(url, statement) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

async function reachable(url) {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  try {
    await client.connect();
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * DATABASE_URL when it names PostgreSQL; otherwise the shared test server of scripts/postgres.sh,
 * started if it does not answer yet.
 */
export async function postgresAdminUrl() {
  const given = process.env.DATABASE_URL;
  if (given && /^postgres(ql)?:\/\//.test(given)) return given;
  const script = path.join(root, 'scripts', 'postgres.sh');
  const url = execFileSync('bash', [script, 'url'], { encoding: 'utf8' }).trim();
  if (await reachable(url)) return url;
  return execFileSync('bash', [script, 'start'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();
}
