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

// PGlite is one session: parallel requests there are serialized and never contend for a lock, so
// these tests can only fail on PostgreSQL. On PGlite they still show the answers stay right.
const engine = onPostgres
  ? 'PostgreSQL, real lock contention'
  : 'PGlite, serialized by its one connection: cannot show races, only correct answers';

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
      params: {
        path: { orgId: org.orgId },
        query: { action: 'ownership.transferred', limit: 100 },
      },
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

  test('30 parallel setMemberRole with one If-Match: exactly one 200, the rest 412, one audit event', async () => {
    const org = await createOrg(ctx);
    const target = await addActor(ctx, org, 'member');
    const read = await org.owner.client.GET('/v1/organizations/{orgId}/members/{userId}', {
      params: { path: { orgId: org.orgId, userId: target.userId } },
    });
    const etag = read.response.headers.get('etag')!;
    const roles = ['viewer', 'admin'];
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        org.owner.client.PUT('/v1/organizations/{orgId}/members/{userId}/role', {
          params: {
            path: { orgId: org.orgId, userId: target.userId },
            header: { 'If-Match': etag },
          },
          body: { roleId: roles[i % 2]! },
        }),
      ),
    );
    const statuses = results.map((r) => r.response.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 412)).toHaveLength(29);
    const events = await org.owner.client.GET('/v1/organizations/{orgId}/audit-events', {
      params: {
        path: { orgId: org.orgId },
        query: { action: 'member.role_changed', targetUserId: target.userId },
      },
    });
    expect(events.data!.data).toHaveLength(1);
  });

  test('parallel removal of one member: one 204, the rest 404', async () => {
    const org = await createOrg(ctx);
    const target = await addActor(ctx, org, 'member');
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        org.owner.client.DELETE('/v1/organizations/{orgId}/members/{userId}', {
          params: { path: { orgId: org.orgId, userId: target.userId } },
        }),
      ),
    );
    const statuses = results.map((r) => r.response.status).sort();
    expect(statuses.filter((s) => s === 204)).toHaveLength(1);
    expect(statuses.filter((s) => s === 404)).toHaveLength(19);
    const events = await org.owner.client.GET('/v1/organizations/{orgId}/audit-events', {
      params: { path: { orgId: org.orgId }, query: { action: 'member.removed' } },
    });
    expect(events.data!.data).toHaveLength(1);
  });

  test('parallel role changes and removal of one member: never a 5xx, audit events equal the changes made', async () => {
    const org = await createOrg(ctx);
    const target = await addActor(ctx, org, 'member');
    const admins: TestActor[] = [];
    for (let i = 0; i < 4; i += 1) admins.push(await addActor(ctx, org, 'admin'));
    const requests = admins.flatMap((admin, i) => [
      admin.client.PUT('/v1/organizations/{orgId}/members/{userId}/role', {
        params: { path: { orgId: org.orgId, userId: target.userId } },
        body: { roleId: i % 2 === 0 ? 'viewer' : 'member' },
      }),
      admin.client.PATCH('/v1/organizations/{orgId}/members/{userId}', {
        params: { path: { orgId: org.orgId, userId: target.userId } },
        body: { status: i % 2 === 0 ? 'suspended' : 'active' },
      }),
      admin.client.DELETE('/v1/organizations/{orgId}/members/{userId}', {
        params: { path: { orgId: org.orgId, userId: target.userId } },
      }),
    ]);
    const results = await Promise.all(requests);
    const statuses = results.map((r) => r.response.status);
    expect(statuses.filter((s) => s >= 500)).toEqual([]);
    expect(statuses.every((s) => [200, 204, 404].includes(s))).toBe(true);
    expect(statuses.filter((s) => s === 204)).toHaveLength(1);
    const events = await org.owner.client.GET('/v1/organizations/{orgId}/audit-events', {
      params: { path: { orgId: org.orgId }, query: { targetUserId: target.userId, limit: 100 } },
    });
    const changes = events.data!.data.filter((e) =>
      ['member.role_changed', 'member.status_changed', 'member.removed'].includes(e.action),
    );
    const roleChanges = changes.filter((e) => e.action === 'member.role_changed');
    const statusChanges = changes.filter((e) => e.action === 'member.status_changed');
    for (const event of [...roleChanges, ...statusChanges]) {
      expect(event.before).not.toEqual(event.after);
    }
    expect(changes.filter((e) => e.action === 'member.removed')).toHaveLength(1);
    // Every change adds one version and one event; a no-op adds neither. The highest version any
    // 200 reported is the member's last version before removal.
    const versions = results
      .filter((r) => r.response.status === 200)
      .map((r) => (r.data as { version: number }).version);
    const lastVersion = Math.max(1, ...versions);
    expect(roleChanges.length + statusChanges.length).toBe(lastVersion - 1);
  });

  test('deleting a custom role with reassignment while others assign it leaves nobody holding a deleted role', async () => {
    const org = await createOrg(ctx);
    const role = await org.owner.client.POST('/v1/organizations/{orgId}/roles', {
      params: { path: { orgId: org.orgId } },
      body: { name: 'Contractors', permissions: ['org:read', 'members:read'] },
    });
    const roleId = role.data!.id;
    const members: TestActor[] = [];
    for (let i = 0; i < 10; i += 1) members.push(await addActor(ctx, org, 'member'));
    const assignments = members.map((member) =>
      org.owner.client.PUT('/v1/organizations/{orgId}/members/{userId}/role', {
        params: { path: { orgId: org.orgId, userId: member.userId } },
        body: { roleId },
      }),
    );
    const deletion = org.owner.client.DELETE('/v1/organizations/{orgId}/roles/{roleId}', {
      params: { path: { orgId: org.orgId, roleId }, query: { reassignTo: 'viewer' } },
    });
    const [deleted, ...assigned] = await Promise.all([deletion, ...assignments]);
    expect(deleted.response.status).toBe(204);
    for (const result of assigned) expect([200, 400]).toContain(result.response.status);
    const holders = await ctx.service.database.db
      .selectFrom('memberships')
      .select('user_id')
      .where('org_id', '=', org.orgId)
      .where('role_id', '=', roleId)
      .execute();
    expect(holders).toEqual([]);
    const after = await org.owner.client.GET('/v1/organizations/{orgId}/members', {
      params: { path: { orgId: org.orgId }, query: { limit: 100 } },
    });
    for (const member of after.data!.data) expect(member.role.id).not.toBe(roleId);
  });
});
