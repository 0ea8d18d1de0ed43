// The bench's baseline, run in a process of its own as the service is: a small Express app that
// answers a member-like JSON object (the shape of getMember) from ONE indexed select by primary
// key, on the same database as the service but in a table of its own. On PostgreSQL it uses a
// `pg` pool of 10 (the service's pool size); on PGlite, a PGlite instance of its own in this
// process (PGlite is embedded: it cannot share the service's). It also answers a static body, for
// context: bare Express with no database at all.
//
//   GET /static                              {"status":"ok"}
//   GET /v1/organizations/:orgId/members/:userId   the member, or 404
//
// Env: BASELINE_DATABASE_URL (postgres://… or file:DIR), BASELINE_ORG_ID (the organization id of
// its rows), BASELINE_MEMBERS (rows to seed, 1000; user ids user_000001…).
// Prints `baseline ready on http://127.0.0.1:PORT` once it listens.
import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import express from 'express';
import pg from 'pg';

const databaseUrl = process.env.BASELINE_DATABASE_URL ?? '';
const members = Number(process.env.BASELINE_MEMBERS ?? 1000);
const orgId = process.env.BASELINE_ORG_ID ?? 'org_01JBENCHBASE00000000000000';

/** `query(text, params) → rows` over a pool of 10, or over PGlite in this process. */
async function openDatabase(url) {
  if (/^postgres(ql)?:\/\//.test(url)) {
    const pool = new pg.Pool({ connectionString: url, max: 10 });
    pool.on('error', () => undefined);
    return {
      query: async (text, params) => (await pool.query(text, params)).rows,
      close: () => pool.end(),
    };
  }
  if (!url.startsWith('file:'))
    throw new Error('BASELINE_DATABASE_URL must be postgres:// or file:');
  const dir = url.slice('file:'.length);
  mkdirSync(dir, { recursive: true });
  const pglite = new PGlite(dir);
  await pglite.waitReady;
  return {
    query: async (text, params) => (await pglite.query(text, params)).rows,
    close: () => pglite.close(),
  };
}

/** Its own table: the member's row with its role and teams beside it, so one select answers. */
async function createTable(db) {
  await db.query(`
    create table if not exists bench_baseline_members (
      org_id text not null,
      user_id text not null,
      email text not null,
      name text,
      image_url text,
      role_id text not null,
      role_name text not null,
      role_permissions text[] not null,
      status text not null,
      teams jsonb not null,
      joined_at timestamptz not null,
      updated_at timestamptz not null,
      version integer not null,
      primary key (org_id, user_id)
    )`);
  await db.query(
    `insert into bench_baseline_members
       select $1, 'user_' || lpad(i::text, 6, '0'), 'user' || i || '@bench.test', 'Bench User ' || i,
              null, 'member', 'Member', array['members:read', 'teams:read', 'roles:read'], 'active',
              jsonb_build_array(jsonb_build_object('id', 'team_01JBENCHTEAM000000000000' || lpad((i % 10)::text, 2, '0'),
                'name', 'Team ' || (i % 10), 'role', 'member')),
              now(), now(), 1
       from generate_series(1, $2::int) i
     on conflict do nothing`,
    [orgId, members],
  );
  await db.query('analyze bench_baseline_members');
}

function toMember(row) {
  return {
    organizationId: row.org_id,
    userId: row.user_id,
    user: { id: row.user_id, email: row.email, name: row.name, imageUrl: row.image_url },
    role: { id: row.role_id, name: row.role_name, permissions: row.role_permissions },
    status: row.status,
    teams: row.teams,
    joinedAt: new Date(row.joined_at).toISOString(),
    updatedAt: new Date(row.updated_at).toISOString(),
    version: row.version,
  };
}

function createApp(db) {
  const app = express();
  app.get('/static', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/v1/organizations/:orgId/members/:userId', async (req, res) => {
    const [row] = await db.query(
      'select * from bench_baseline_members where org_id = $1 and user_id = $2',
      [req.params.orgId, req.params.userId],
    );
    if (!row) res.status(404).json({ status: 404, title: 'Not found' });
    else res.json(toMember(row));
  });
  return app;
}

const db = await openDatabase(databaseUrl);
await createTable(db);
const server = createApp(db).listen(0, '127.0.0.1', () => {
  process.stdout.write(`baseline ready on http://127.0.0.1:${server.address().port}\n`);
});
process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  void db.close().finally(() => process.exit(0));
});
