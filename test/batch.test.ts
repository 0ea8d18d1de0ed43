import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { startTestService, type TestContext } from './support/context.js';
import { addActor, createOrg, type TestOrg } from './support/scenario.js';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await startTestService();
});
afterAll(async () => {
  await ctx.stop();
});

const batchPath = '/v1/organizations/{orgId}/members/batch' as const;

/** An organization with `count` members (added in one batch) holding the role `member`. */
async function orgWithMembers(count: number): Promise<{ org: TestOrg; userIds: string[] }> {
  const org = await createOrg(ctx);
  const userIds = Array.from({ length: count }, (_, i) => `usr_bulk_${i}`);
  const { data } = await org.owner.client.POST(batchPath, {
    params: { path: { orgId: org.orgId } },
    body: {
      operations: userIds.map((userId) => ({
        op: 'add' as const,
        userId,
        email: `${userId}@example.test`,
      })),
    },
  });
  expect(data!.results.every((r) => r.status === 201)).toBe(true);
  return { org, userIds };
}

async function auditCount(org: TestOrg, action: 'member.role_changed' | 'member.added') {
  let count = 0;
  for await (const _ of org.owner.client.paginate('/v1/organizations/{orgId}/audit-events', {
    params: { path: { orgId: org.orgId }, query: { action, limit: 100 } },
  })) {
    count += 1;
  }
  return count;
}

async function rolesOf(org: TestOrg) {
  const roles = new Map<string, string>();
  for await (const m of org.owner.client.paginate('/v1/organizations/{orgId}/members', {
    params: { path: { orgId: org.orgId }, query: { limit: 100 } },
  })) {
    roles.set(m.userId, m.role.id);
  }
  return roles;
}

describe('batchMembers', () => {
  test('100 set_role items with a few refused: the others apply, each refusal has its own problem and code, audit events equal the applied items', async () => {
    const { org, userIds } = await orgWithMembers(97);
    const admin = await addActor(ctx, org, 'admin', 'usr_bulk_admin');
    const operations = [
      ...userIds.map((userId) => ({ op: 'set_role' as const, userId, roleId: 'viewer' })),
      { op: 'set_role' as const, userId: org.owner.userId, roleId: 'viewer' }, // rule 4
      { op: 'set_role' as const, userId: 'usr_nobody', roleId: 'viewer' }, // no such member
      { op: 'set_role' as const, userId: admin.userId, roleId: 'owner' }, // only the owner
    ];
    expect(operations).toHaveLength(100);
    const before = await auditCount(org, 'member.role_changed');
    const { data, response } = await admin.client.POST(batchPath, {
      params: { path: { orgId: org.orgId } },
      body: { operations },
    });
    expect(response.status).toBe(200);
    const results = data!.results;
    expect(results.map((r) => r.index)).toEqual([...Array(100).keys()]);
    expect(results.slice(0, 97).every((r) => r.status === 200)).toBe(true);
    expect(results.slice(97).map((r) => [r.status, (r.body as { code: string }).code])).toEqual([
      [409, 'OWNER_REQUIRED'],
      [404, 'NOT_FOUND'],
      [403, 'PRIVILEGE_CEILING'],
    ]);
    expect(results[97]!.body).toMatchObject({
      type: '/problems/owner-required',
      status: 409,
      instance: `/v1/organizations/${org.orgId}/members/batch`,
    });
    const roles = await rolesOf(org);
    expect(userIds.every((userId) => roles.get(userId) === 'viewer')).toBe(true);
    expect(roles.get(org.owner.userId)).toBe('owner');
    expect(roles.get(admin.userId)).toBe('admin');
    expect((await auditCount(org, 'member.role_changed')) - before).toBe(97);
  });

  test('atomic: true with a refused item applies nothing and writes nothing to the audit trail (409 BATCH_FAILED with every result)', async () => {
    const { org, userIds } = await orgWithMembers(10);
    const before = await auditCount(org, 'member.role_changed');
    const { error, response } = await org.owner.client.POST(batchPath, {
      params: { path: { orgId: org.orgId } },
      body: {
        atomic: true,
        operations: [
          ...userIds.map((userId) => ({ op: 'set_role' as const, userId, roleId: 'admin' })),
          { op: 'remove' as const, userId: org.owner.userId },
        ],
      },
    });
    expect(response.status).toBe(409);
    expect(error!.code).toBe('BATCH_FAILED');
    expect(error!.results).toHaveLength(11);
    expect(error!.results!.slice(0, 10).every((r) => r.status === 200)).toBe(true);
    expect(error!.results![10]).toMatchObject({
      index: 10,
      status: 409,
      body: { code: 'OWNER_REQUIRED' },
    });
    const roles = await rolesOf(org);
    expect(userIds.every((userId) => roles.get(userId) === 'member')).toBe(true);
    expect(await auditCount(org, 'member.role_changed')).toBe(before);
  });

  test('items run in order under the rules of their single operations: add, update, remove; a later item sees an earlier one', async () => {
    const org = await createOrg(ctx);
    const { data } = await org.owner.client.POST(batchPath, {
      params: { path: { orgId: org.orgId } },
      body: {
        operations: [
          { op: 'add', userId: 'usr_a', email: 'a@example.test' },
          { op: 'add', userId: 'usr_a', email: 'a@example.test' },
          { op: 'update', userId: 'usr_a', status: 'suspended', roleId: 'viewer' },
          { op: 'remove', userId: 'usr_a' },
          { op: 'remove', userId: 'usr_a' },
        ],
      },
    });
    expect(data!.results.map((r) => r.status)).toEqual([201, 409, 200, 204, 404]);
    expect(data!.results[2]!.body).toMatchObject({ status: 'suspended', role: { id: 'viewer' } });
    expect(data!.results[3]!.body).toBeNull();
  });

  test('one Idempotency-Key covers the whole batch: a retry answers the same and applies nothing more', async () => {
    const org = await createOrg(ctx);
    const send = () =>
      org.owner.client.POST(batchPath, {
        params: { path: { orgId: org.orgId }, header: { 'Idempotency-Key': 'batch-once' } },
        body: { operations: [{ op: 'add', userId: 'usr_once', email: 'once@example.test' }] },
      });
    const first = await send();
    const second = await send();
    expect(second.data).toEqual(first.data);
    expect(first.data!.results[0]!.status).toBe(201);
    expect(await auditCount(org, 'member.added')).toBe(2); // the owner and usr_once
  });

  test('more than 100 items is 400 VALIDATION_FAILED', async () => {
    const org = await createOrg(ctx);
    const { error, response } = await org.owner.client.POST(batchPath, {
      params: { path: { orgId: org.orgId } },
      body: {
        operations: Array.from({ length: 101 }, (_, i) => ({
          op: 'remove' as const,
          userId: `u${i}`,
        })),
      },
    });
    expect(response.status).toBe(400);
    expect(error!.code).toBe('VALIDATION_FAILED');
  });

  test('a caller who is not a member gets 404 for the whole batch, and the platform key needs On-Behalf-Of', async () => {
    const org = await createOrg(ctx);
    const other = await createOrg(ctx);
    const body = { operations: [{ op: 'remove' as const, userId: 'usr_x' }] };
    const stranger = await other.owner.client.POST(batchPath, {
      params: { path: { orgId: org.orgId } },
      body,
    });
    expect(stranger.response.status).toBe(404);
    const platform = await ctx.platform.POST(batchPath, {
      params: { path: { orgId: org.orgId } },
      body,
    });
    expect(platform.error!.code).toBe('ON_BEHALF_OF_REQUIRED');
  });
});

describe('batchInvitations', () => {
  test('each item is createInvitation: tokens for the created ones, INVITATION_EXISTS for a repeated email', async () => {
    const org = await createOrg(ctx);
    const { data, response } = await org.owner.client.POST(
      '/v1/organizations/{orgId}/invitations/batch',
      {
        params: { path: { orgId: org.orgId } },
        body: {
          invitations: [
            { email: 'one@example.test' },
            { email: 'ONE@example.test' },
            { email: 'two@example.test', roleId: 'viewer' },
          ],
        },
      },
    );
    expect(response.status).toBe(200);
    expect(data!.results.map((r) => r.status)).toEqual([201, 409, 201]);
    expect((data!.results[0]!.body as { token: string }).token).toMatch(/^mri_/);
    expect((data!.results[1]!.body as { code: string }).code).toBe('INVITATION_EXISTS');
  });

  test('atomic: true within the seats applies none when one item has no seat left', async () => {
    const org = await createOrg(ctx);
    await org.owner.client.PATCH('/v1/organizations/{orgId}', {
      params: { path: { orgId: org.orgId } },
      body: { maxMembers: 3 },
    });
    const { error } = await org.owner.client.POST('/v1/organizations/{orgId}/invitations/batch', {
      params: { path: { orgId: org.orgId } },
      body: {
        atomic: true,
        invitations: [
          { email: 'a@example.test' },
          { email: 'b@example.test' },
          { email: 'c@example.test' },
        ],
      },
    });
    expect(error!.code).toBe('BATCH_FAILED');
    expect(error!.results!.map((r) => r.status)).toEqual([201, 201, 409]);
    const { data } = await org.owner.client.GET('/v1/organizations/{orgId}', {
      params: { path: { orgId: org.orgId } },
    });
    expect(data!.pendingInvitationCount).toBe(0);
  });
});
