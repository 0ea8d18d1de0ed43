import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { onPostgres, startTestService, type TestContext } from './support/context.js';
import { addActor, createOrg, type TestActor } from './support/scenario.js';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await startTestService();
});
afterAll(async () => {
  await ctx.stop();
});

const engine = onPostgres ? 'PostgreSQL' : 'PGlite';

describe(`invariants under concurrent requests (${engine})`, () => {
  test('20 parallel ownership transfers leave exactly one owner and one audit pair per success', async () => {
    const org = await createOrg(ctx);
    const candidates: TestActor[] = [];
    for (let i = 0; i < 20; i += 1) candidates.push(await addActor(ctx, org, 'admin'));

    const results = await Promise.all(
      candidates.map((candidate) =>
        org.owner.client.POST('/v1/organizations/{orgId}/ownership-transfer', {
          params: { path: { orgId: org.orgId } },
          body: { userId: candidate.userId },
        }),
      ),
    );
    const statuses = results.map((r) => r.response.status);
    expect(statuses.every((s) => s === 200 || s === 403)).toBe(true);
    const successes = statuses.filter((s) => s === 200).length;
    expect(successes).toBe(1);

    const reader = candidates[0]!.client;
    const owners = await reader.GET('/v1/organizations/{orgId}/members', {
      params: { path: { orgId: org.orgId }, query: { role: 'owner' } },
    });
    expect(owners.data!.data).toHaveLength(1);
    const winner = results.findIndex((r) => r.response.status === 200);
    expect(owners.data!.data[0]!.userId).toBe(candidates[winner]!.userId);

    const events = await reader.GET('/v1/organizations/{orgId}/audit-events', {
      params: { path: { orgId: org.orgId }, query: { action: 'ownership.transferred', limit: 100 } },
    });
    expect(events.data!.data).toHaveLength(2 * successes);
  });

  test('parallel owner assignments by setMemberRole never leave zero or two owners', async () => {
    const org = await createOrg(ctx);
    const members: TestActor[] = [];
    for (let i = 0; i < 10; i += 1) members.push(await addActor(ctx, org, 'member'));
    const results = await Promise.all(
      members.map((member) =>
        org.owner.client.PUT('/v1/organizations/{orgId}/members/{userId}/role', {
          params: { path: { orgId: org.orgId, userId: member.userId } },
          body: { roleId: 'owner' },
        }),
      ),
    );
    const statuses = results.map((r) => r.response.status);
    expect(statuses.filter((s) => s >= 500)).toEqual([]);
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    const rows = await ctx.service.database.db
      .selectFrom('memberships')
      .select('user_id')
      .where('org_id', '=', org.orgId)
      .where('role_id', '=', 'owner')
      .execute();
    expect(rows).toHaveLength(1);
  });

  test('parallel role changes of one member each write exactly one audit event per change', async () => {
    const org = await createOrg(ctx);
    const admins: TestActor[] = [];
    for (let i = 0; i < 5; i += 1) admins.push(await addActor(ctx, org, 'admin'));
    const target = await addActor(ctx, org, 'member');
    const results = await Promise.all(
      admins.flatMap((admin, i) =>
        ['viewer', 'member'].map((roleId) =>
          admin.client.PUT('/v1/organizations/{orgId}/members/{userId}/role', {
            params: { path: { orgId: org.orgId, userId: target.userId } },
            body: { roleId: i % 2 === 0 ? roleId : roleId === 'viewer' ? 'member' : 'viewer' },
          }),
        ),
      ),
    );
    expect(results.every((r) => r.response.status === 200)).toBe(true);
    const member = await target.client.GET('/v1/organizations/{orgId}/me', {
      params: { path: { orgId: org.orgId } },
    });
    const events = await admins[0]!.client.GET('/v1/organizations/{orgId}/audit-events', {
      params: {
        path: { orgId: org.orgId },
        query: { action: 'member.role_changed', targetUserId: target.userId, limit: 100 },
      },
    });
    // Version 1 at creation; every real change adds one version and one event, no-ops add neither.
    expect(events.data!.data).toHaveLength(member.data!.version - 1);
  });
});
