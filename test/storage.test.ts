import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { sql } from 'kysely';
import { createOrganization } from '../server/domain/organizations.service.js';
import { systemClock, ulidIds } from '../server/ids.js';
import { auditPage, renderedAuditFact } from '../server/storage/audit.repository.js';
import { migrateToLatest, openDatabase, type DatabaseHandle } from '../server/storage/database.js';
import { onPostgres, scratchDatabase } from './support/database.js';

let database: DatabaseHandle;
let drop: () => Promise<void>;
let orgId: string;

beforeAll(async () => {
  const scratch = await scratchDatabase();
  drop = () => scratch.drop();
  database = await openDatabase(scratch.url);
  await migrateToLatest(database.db);
  const created = await createOrganization(
    { db: database.db, clock: systemClock, ids: ulidIds() },
    { credential: { kind: 'platform' }, requestId: 'storage-test' },
    { name: 'Schema', slug: 'schema', owner: { userId: 'owner', email: 'o@example.test' } },
  );
  orgId = created.organization.id;
});
afterAll(async () => {
  await database.close();
  await drop();
});

const member = (userId: string, roleId: string) => ({
  org_id: orgId,
  user_id: userId,
  email: `${userId}@example.test`,
  role_id: roleId,
  status: 'active' as const,
  joined_at: new Date(),
  updated_at: new Date(),
});

describe(`the schema holds the invariants it can (${onPostgres ? 'PostgreSQL' : 'PGlite'})`, () => {
  test('migrating again is a no-op', async () => {
    await expect(migrateToLatest(database.db)).resolves.toBeUndefined();
  });

  test('a second owner in one organization is refused by the database', async () => {
    await expect(
      database.db.insertInto('memberships').values(member('second-owner', 'owner')).execute(),
    ).rejects.toMatchObject({ code: '23505' });
  });

  test('one membership per (organization, user)', async () => {
    await expect(
      database.db.insertInto('memberships').values(member('owner', 'member')).execute(),
    ).rejects.toMatchObject({ code: '23505' });
  });

  test('a membership must name a role of its own organization', async () => {
    await expect(
      database.db.insertInto('memberships').values(member('someone', 'role_nope')).execute(),
    ).rejects.toMatchObject({ code: '23503' });
  });

  test('the audit table is append-only: UPDATE and DELETE fail', async () => {
    const before = await database.db
      .selectFrom('audit_events')
      .select(sql<number>`count(*)::int`.as('n'))
      .executeTakeFirstOrThrow();
    expect(before.n).toBeGreaterThan(0);
    await expect(
      database.db.updateTable('audit_events').set({ action: 'tampered' }).execute(),
    ).rejects.toThrow(/append-only/);
    await expect(database.db.deleteFrom('audit_events').execute()).rejects.toThrow(/append-only/);
    const after = await database.db
      .selectFrom('audit_events')
      .select(sql<number>`count(*)::int`.as('n'))
      .executeTakeFirstOrThrow();
    expect(after.n).toBe(before.n);
  });

  test('a rolled-back transaction leaves nothing behind', async () => {
    await expect(
      database.db.transaction().execute(async (trx) => {
        await trx.insertInto('memberships').values(member('ghost', 'member')).execute();
        throw new Error('abort');
      }),
    ).rejects.toThrow('abort');
    const ghost = await database.db
      .selectFrom('memberships')
      .select('user_id')
      .where('user_id', '=', 'ghost')
      .execute();
    expect(ghost).toEqual([]);
  });
});

const onPostgresOnly = onPostgres ? describe : describe.skip;

onPostgresOnly('a page of the audit trail reads its own organization’s events only', () => {
  // An organization holding most of the trail, and another whose events are all newer: a plan
  // reading everyone's newest events by the primary key would skip the other's to find its own.
  test('its first page reads no other organization’s events, however the trail is shared', async () => {
    const other = await createOrganization(
      { db: database.db, clock: systemClock, ids: ulidIds() },
      { credential: { kind: 'platform' }, requestId: 'storage-test' },
      { name: 'Busy', slug: 'busy', owner: { userId: 'busy-owner', email: 'b@example.test' } },
    );
    const insert = (org: string, prefix: string, count: number) =>
      sql`insert into audit_events (id, org_id, action, actor_type, request_id, occurred_at)
          select ${prefix} || lpad(i::text, 8, '0'), ${org}, 'member.role_changed', 'platform',
                 'seed', now()
          from generate_series(1, ${count}::int) i`.execute(database.db);
    await insert(orgId, 'evt_0', 30_000);
    await insert(other.organization.id, 'evt_9', 3_000);
    await sql`analyze audit_events`.execute(database.db);

    const page = renderedAuditFact(database.db, orgId, auditPage({}, 50));
    const { rows } = await sql<{
      'QUERY PLAN': PlanNode[];
    }>`explain (analyze, format json) select ${page} as page`.execute(database.db);
    const removed = (node: PlanNode): number =>
      (node['Rows Removed by Filter'] ?? 0) +
      (node.Plans ?? []).reduce((n, p) => n + removed(p), 0);
    expect(removed(rows[0]!['QUERY PLAN'][0]!.Plan)).toBe(0);
  });
});

interface PlanNode {
  Plan: PlanNode;
  Plans?: PlanNode[];
  'Rows Removed by Filter'?: number;
}
