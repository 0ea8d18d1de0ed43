import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** True when the suite runs against a PostgreSQL server (DATABASE_URL=postgres://…). */
export const onPostgres = /^postgres(ql)?:\/\//.test(process.env.DATABASE_URL ?? '');

/**
 * A scratch database for one test file: a fresh PostgreSQL database when DATABASE_URL names a
 * server (dropped afterwards), PGlite in memory otherwise.
 */
export async function scratchDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  if (!onPostgres) return { url: 'memory://', drop: () => Promise.resolve() };
  const admin = new URL(process.env.DATABASE_URL!);
  const name = `mr_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const run = async (statement: string) => {
    const client = new pg.Client({ connectionString: admin.toString() });
    await client.connect();
    try {
      await client.query(statement);
    } finally {
      await client.end();
    }
  };
  await run(`create database ${name}`);
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => run(`drop database if exists ${name} with (force)`) };
}
