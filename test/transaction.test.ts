import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { sql } from 'kysely';
import pg from 'pg';
import { openDatabase, type DatabaseHandle, type Trx } from '../server/storage/database.js';
import {
  CommitOutcomeUnknownError,
  classifyDatabaseError,
} from '../server/storage/database-errors.js';
import { runTransaction } from '../server/storage/transaction.js';
import { onPostgres, scratchDatabase } from './support/database.js';

let database: DatabaseHandle;
let drop: () => Promise<void>;
let url: string;
const brokenConnections: Error[] = [];

beforeAll(async () => {
  const scratch = await scratchDatabase();
  url = scratch.url;
  drop = () => scratch.drop();
  database = await openDatabase(scratch.url, {
    poolSize: 4,
    onConnectionError: (error) => brokenConnections.push(error),
  });
  await sql`create table trial (id serial primary key, note text not null)`.execute(database.db);
});
afterAll(async () => {
  await database.close();
  await drop();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const notes = async (note: string) =>
  (
    await sql<{ n: number }>`select count(*)::int as n from trial where note = ${note}`.execute(
      database.db,
    )
  ).rows[0]!.n;
const insert = (trx: Trx, note: string) =>
  sql`insert into trial (note) values (${note})`.execute(trx);
const failure = (code: string) => Object.assign(new Error(`sqlstate ${code}`), { code });

describe(`runTransaction (${onPostgres ? 'PostgreSQL' : 'PGlite'})`, () => {
  test('a transaction PostgreSQL aborts for contention runs again, and its change is kept once', async () => {
    let runs = 0;
    const result = await runTransaction(database.db, async (trx) => {
      runs += 1;
      await insert(trx, 'contention');
      if (runs < 3) throw failure(runs === 1 ? '40001' : '40P01');
      return 'done';
    });
    expect(result).toBe('done');
    expect(runs).toBe(3);
    expect(await notes('contention')).toBe(1);
  });

  test('any other failure is not run again, and nothing of it is kept', async () => {
    let runs = 0;
    await expect(
      runTransaction(database.db, async (trx) => {
        runs += 1;
        await insert(trx, 'refused');
        throw failure('23505');
      }),
    ).rejects.toMatchObject({ code: '23505' });
    expect(runs).toBe(1);
    expect(await notes('refused')).toBe(0);
  });

  test('the isolation level asked for is the one the work runs in', async () => {
    const level = await runTransaction(
      database.db,
      async (trx) =>
        (
          await sql<{
            level: string;
          }>`select current_setting('transaction_isolation') as level`.execute(trx)
        ).rows[0]!.level,
      { isolation: 'repeatable read' },
    );
    expect(level).toBe('repeatable read');
  });
});

(onPostgres ? describe : describe.skip)(
  'runTransaction when the connection dies (PostgreSQL)',
  () => {
    const terminate = async (pid: number) => {
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      try {
        await admin.query('select pg_terminate_backend($1)', [pid]);
      } finally {
        await admin.end();
      }
    };

    test('a connection terminated before COMMIT, while the transaction sits idle: no crash, the transaction runs again on a new connection and commits once', async () => {
      const heard = brokenConnections.length;
      let runs = 0;
      await runTransaction(database.db, async (trx) => {
        runs += 1;
        await insert(trx, 'before-commit');
        if (runs === 1) {
          const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(trx);
          await terminate(rows[0]!.pid);
          // The server's goodbye arrives while the connection is checked out and idle: an
          // 'error' event nobody listened for used to end the process here.
          await sleep(300);
        }
        await sql`select 1`.execute(trx);
      });
      expect(runs).toBe(2);
      expect(await notes('before-commit')).toBe(1);
      expect(brokenConnections.length).toBeGreaterThan(heard);
      expect(classifyDatabaseError(brokenConnections.at(-1))?.kind).toBe('connection');
    });

    test('a connection terminated during COMMIT: CommitOutcomeUnknownError, and the work is never run again', async () => {
      await sql`create table slow_commit (id int)`.execute(database.db);
      await sql`create function slow_commit() returns trigger language plpgsql as
      $$ begin perform pg_sleep(3); return null; end $$`.execute(database.db);
      await sql`create constraint trigger slow_commit after insert on slow_commit
      deferrable initially deferred for each row execute function slow_commit()`.execute(
        database.db,
      );
      let runs = 0;
      let pid = 0;
      const running = runTransaction(database.db, async (trx) => {
        runs += 1;
        pid = (await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(trx)).rows[0]!
          .pid;
        await sql`insert into slow_commit values (1)`.execute(trx);
      });
      const outcome = running.then(
        () => 'committed',
        (error: unknown) => error,
      );
      // Wait until COMMIT is running (its trigger sleeps), then end the connection.
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      try {
        for (let i = 0; i < 100; i += 1) {
          const { rows } = await admin.query<{ query: string }>(
            `select query from pg_stat_activity where pid = $1 and state = 'active'`,
            [pid],
          );
          if (rows[0]?.query.toLowerCase() === 'commit') break;
          await sleep(20);
        }
        await admin.query('select pg_terminate_backend($1)', [pid]);
      } finally {
        await admin.end();
      }
      const error = await outcome;
      expect(error).toBeInstanceOf(CommitOutcomeUnknownError);
      expect((error as CommitOutcomeUnknownError).databaseCode).toMatch(/57P01|connection/);
      expect(runs).toBe(1);
      // The pool goes on with new connections.
      expect(await notes('nothing')).toBe(0);
    });
  },
);

describe('classifyDatabaseError: which failures mean the database cannot serve now', () => {
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), {
    code: 'ECONNREFUSED',
  });
  test.each([
    ['the server ended the connection (57P01)', failure('57P01'), 'connection'],
    ['the server is starting up (57P03)', failure('57P03'), 'connection'],
    ['a connection exception (08006)', failure('08006'), 'connection'],
    ['connection refused', refused, 'connection'],
    ['refused on every address', new AggregateError([refused], 'connect failed'), 'connection'],
    ['pg: terminated', new Error('Connection terminated unexpectedly'), 'connection'],
    [
      'pg: not queryable',
      new Error('Client has encountered a connection error and is not queryable'),
      'connection',
    ],
    ['too many connections (53300)', failure('53300'), 'unavailable'],
    ['a read-only standby (25006)', failure('25006'), 'unavailable'],
    ['statement timeout (57014)', failure('57014'), 'unavailable'],
    [
      'no free connection in time',
      new Error('timeout exceeded when trying to connect'),
      'unavailable',
    ],
    [
      'connect timeout',
      new Error('Connection terminated due to connection timeout'),
      'unavailable',
    ],
    ['PGlite closed', new Error('PGlite is closed'), 'unavailable'],
  ])('%s', (_name, error, kind) => {
    expect(classifyDatabaseError(error)?.kind).toBe(kind);
  });

  test.each([
    ['a unique violation', failure('23505')],
    ['a check violation', failure('23514')],
    ['any other error', new Error('boom')],
    ['not an error', 'text'],
  ])('%s is not one of them', (_name, error) => {
    expect(classifyDatabaseError(error)).toBeUndefined();
  });
});
