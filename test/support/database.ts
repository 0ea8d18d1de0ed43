import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { Kysely } from 'kysely';
import pg from 'pg';
import { migrateToLatest } from '../../server/storage/database.js';
import { PGliteDialect } from '../../server/storage/pglite-dialect.js';
import type { Database } from '../../server/storage/schema.js';

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

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const snapshots = path.join(root, '.data', 'test-pglite');
let snapshot: Promise<Blob> | undefined;

/**
 * On PGlite, a dump of an empty cluster with every migration applied, for a test's service to
 * start from (`ServiceOptions.pgliteSnapshot`): PGlite takes seconds to make a cluster and a
 * fraction of that to load one, and the suite starts a service in nearly every file. Made once
 * and kept in .data/test-pglite/, named by the migrations and the PGlite version it was made
 * with (a changed migration makes a new one). Undefined on PostgreSQL.
 */
export function migratedPgliteSnapshot(): Promise<Blob | undefined> {
  if (onPostgres) return Promise.resolve(undefined);
  return (snapshot ??= loadOrMakeSnapshot());
}

async function loadOrMakeSnapshot(): Promise<Blob> {
  const migrationsDir = path.join(root, 'server', 'storage', 'migrations');
  const hash = createHash('sha256');
  hash.update(await readFile(path.join(root, 'node_modules/@electric-sql/pglite/package.json')));
  for (const name of (await readdir(migrationsDir)).sort()) {
    hash.update(name).update(await readFile(path.join(migrationsDir, name)));
  }
  const file = path.join(snapshots, `${hash.digest('hex').slice(0, 16)}.tar`);
  try {
    return new Blob([await readFile(file)]);
  } catch {
    // Not made yet (or made by another worker a moment from now: both write, one rename wins).
  }
  const pglite = new PGlite();
  const db = new Kysely<Database>({ dialect: new PGliteDialect(pglite) });
  try {
    await migrateToLatest(db);
    const dump = await pglite.dumpDataDir('none');
    await mkdir(snapshots, { recursive: true });
    const partial = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
    await writeFile(partial, Buffer.from(await dump.arrayBuffer()));
    await rename(partial, file);
    // Snapshots of earlier migrations go (a worker's half-written one for this hash stays).
    for (const name of await readdir(snapshots)) {
      if (!name.startsWith(path.basename(file))) {
        await rm(path.join(snapshots, name), { force: true }).catch(() => undefined);
      }
    }
    return dump;
  } finally {
    await db.destroy();
    await pglite.close().catch(() => undefined);
  }
}
