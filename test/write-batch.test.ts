import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { sql } from 'kysely';
import type { Executor } from '../server/storage/database.js';
import { updateMemberWrite } from '../server/storage/members.repository.js';
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
