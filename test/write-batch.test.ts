import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { sql } from 'kysely';
import type { Executor } from '../server/storage/database.js';
import { insertAuditEventsQuery } from '../server/storage/audit.repository.js';
import { updateMemberWrite } from '../server/storage/members.repository.js';
import type { NewAuditEvent } from '../server/storage/schema.js';
import { insertDeliveriesQuery } from '../server/storage/webhooks.repository.js';
import { touchRolesWrite } from '../server/storage/roles.repository.js';
import { preparedWrite, runWrites } from '../server/storage/write-batch.js';
import { startTestService, type TestContext } from './support/context.js';
import { addActor, createOrg, type TestOrg } from './support/scenario.js';

let ctx: TestContext;
let org: TestOrg;
let db: Executor;
beforeAll(async () => {
  ctx = await startTestService();
  org = await createOrg(ctx);
  db = ctx.service.database.db;
});
afterAll(async () => {
  await ctx.stop();
});

async function memberRow(userId: string) {
  const { rows } = await sql<{ role_id: string; name: string | null; version: number }>`
    select role_id, name, version from memberships where org_id = ${org.orgId} and user_id = ${userId}
  `.execute(db);
  return rows[0]!;
}

describe('writes compiled once per shape', () => {
  test('each call of a shape seen before writes its own values', async () => {
    const one = await addActor(ctx, org, 'member');
    const two = await addActor(ctx, org, 'member');
    const now = new Date();
    for (const [who, role] of [
      [one, 'viewer'],
      [two, 'admin'],
      [one, 'admin'],
    ] as const) {
      const version = (await memberRow(who.userId)).version;
      const write = updateMemberWrite(db, org.orgId, who.userId, { role_id: role }, now, version);
      expect(await runWrites(db, [write])).toEqual([1]);
    }
    expect((await memberRow(one.userId)).role_id).toBe('admin');
    expect((await memberRow(two.userId)).role_id).toBe('admin');
    // The same shape with a version that no longer matches changes nothing.
    const stale = updateMemberWrite(db, org.orgId, two.userId, { role_id: 'viewer' }, now, 1);
    expect(await runWrites(db, [stale])).toEqual([0]);
    expect((await memberRow(two.userId)).role_id).toBe('admin');
    // Another key given is another statement: the status changes, the role stays.
    const version = (await memberRow(one.userId)).version;
    const suspend = updateMemberWrite(db, org.orgId, one.userId, { status: 'suspended' }, now);
    expect(await runWrites(db, [suspend])).toEqual([1]);
    expect(await memberRow(one.userId)).toMatchObject({ role_id: 'admin', version: version + 1 });
    const { rows } = await sql<{ status: string }>`
      select status from memberships where org_id = ${org.orgId} and user_id = ${one.userId}
    `.execute(db);
    expect(rows[0]!.status).toBe('suspended');
  });

  test('writes run together get their own parameters, and `$n` inside quoted text is left alone', async () => {
    const member = await addActor(ctx, org, 'member');
    const other = await addActor(ctx, org, 'member');
    const rename = preparedWrite((ex: Executor, userId: string, name: string) =>
      ex
        .updateTable('memberships')
        .set({ name: sql<string>`${name} || ' costs $1'` })
        .where('org_id', '=', org.orgId)
        .where('user_id', '=', userId)
        .returning('user_id'),
    );
    const now = new Date();
    const version = (await memberRow(member.userId)).version;
    const touched = await runWrites(db, [
      updateMemberWrite(db, org.orgId, member.userId, { role_id: 'viewer' }, now, version),
      touchRolesWrite(db, org.orgId, ['viewer', 'member', 'viewer'], now),
      rename(db, other.userId, 'Other'),
    ]);
    expect(touched).toEqual([1, 2, 1]);
    expect((await memberRow(member.userId)).role_id).toBe('viewer');
    expect((await memberRow(other.userId)).name).toBe('Other costs $1');
  });

  test('audit events of one shape, written twice, each keep their own ids, times and values (arrays bound whole too)', async () => {
    const event = (id: string, action: string, actor: string, at: Date): NewAuditEvent => ({
      id,
      org_id: org.orgId,
      action,
      actor_type: 'member',
      actor_user_id: actor,
      actor_key_id: null,
      actor_via: 'api_key',
      target_user_id: actor,
      target_id: null,
      before: JSON.stringify({ roleId: 'viewer' }),
      after: JSON.stringify({ roleId: action }),
      request_id: `req_${id}`,
      occurred_at: at,
    });
    const suffix = Math.random().toString(36).slice(2, 10);
    const first = [event(`evt_a${suffix}`, 'member.role_changed', 'usr_a', new Date(1_000_000))];
    const second = [event(`evt_b${suffix}`, 'member.added', 'usr_b', new Date(2_000_000))];
    for (const events of [first, second]) {
      const at = events[0]!.occurred_at as Date;
      const touched = await runWrites(db, [
        insertAuditEventsQuery(db, events),
        insertDeliveriesQuery(db, org.orgId, events, at),
      ]);
      expect(touched).toEqual([1, 0]); // no endpoint subscribed
    }
    const { rows } = await sql<{ id: string; action: string; actor_user_id: string; ms: string }>`
      select id, action, actor_user_id, (extract(epoch from occurred_at) * 1000)::bigint::text as ms
      from audit_events where id in (${first[0]!.id}, ${second[0]!.id}) order by id
    `.execute(db);
    expect(rows).toEqual([
      { id: first[0]!.id, action: 'member.role_changed', actor_user_id: 'usr_a', ms: '1000000' },
      { id: second[0]!.id, action: 'member.added', actor_user_id: 'usr_b', ms: '2000000' },
    ]);
  });

  test('an object bound as one value, holding the values, is refused at its first build', () => {
    const wrapped = preparedWrite((ex: Executor, name: string) =>
      ex
        .updateTable('memberships')
        .set({ name: sql<string>`${{ name }}::jsonb->>'name'` })
        .where('org_id', '=', org.orgId)
        .returning('user_id'),
    );
    expect(() => wrapped(db, 'x')).toThrow('a prepared write bound an object holding values');
  });

  test('a value the write would put into its text, not bind, is refused at its first build', () => {
    const inlined = preparedWrite((ex: Executor, userId: string) =>
      ex
        .updateTable('memberships')
        .set({ name: 'x' })
        .where('user_id', '=', sql.lit(userId))
        .returning('user_id'),
    );
    expect(() => inlined(db, 'usr_1')).toThrow('a prepared write wrote a value into its text');
  });

  test('a value the write changes before binding it is refused at its first build', () => {
    const changed = preparedWrite((ex: Executor, userId: string) =>
      ex
        .updateTable('memberships')
        .set({ name: 'x' })
        .where('user_id', '=', `prefix-${userId}`)
        .returning('user_id'),
    );
    expect(() => changed(db, 'usr_1')).toThrow('a prepared write changed its value');
  });
});
