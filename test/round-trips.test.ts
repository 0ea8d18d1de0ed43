import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { onPostgres, startTestService, type TestContext } from './support/context.js';
import { addActor, createOrg, type TestActor, type TestOrg } from './support/scenario.js';
import { statementLog } from './support/statement-log.js';

// Every request's log line says how many database statements (round trips) it took, BEGIN and
// COMMIT included; these tests pin the counts of the hot paths, so a regression fails CI.
const { logger, statementsOf } = statementLog();

let ctx: TestContext;
let org: TestOrg;
let admin: TestActor;
let target: TestActor;

beforeAll(async () => {
  // Rate limiting on: its accounting must not cost a statement.
  ctx = await startTestService({ rateLimitPerMinute: 100_000 }, logger);
  org = await createOrg(ctx);
  admin = await addActor(ctx, org, 'admin');
  target = await addActor(ctx, org, 'member');
});
afterAll(async () => {
  await ctx.stop();
});

let sequence = 0;
const requestId = () => `round-trips-${(sequence += 1)}`;
const headers = (id: string) => ({ 'X-Request-Id': id });

describe(`database round trips per request (${onPostgres ? 'PostgreSQL' : 'PGlite'})`, () => {
  test('getMember costs one statement: authentication, role, tenancy and the member together', async () => {
    const id = requestId();
    const { data } = await admin.client.GET('/v1/organizations/{orgId}/members/{userId}', {
      params: { path: { orgId: org.orgId, userId: target.userId }, header: headers(id) },
    });
    expect(data?.userId).toBe(target.userId);
    expect(await statementsOf(id)).toBe(1);
  });

  test('getCurrentMember costs one statement', async () => {
    const id = requestId();
    const { data } = await target.client.GET('/v1/organizations/{orgId}/me', {
      params: { path: { orgId: org.orgId }, header: headers(id) },
    });
    expect(data?.userId).toBe(target.userId);
    expect(await statementsOf(id)).toBe(1);
  });

  test('listMembers costs one statement, teams included', async () => {
    const id = requestId();
    const { data } = await admin.client.GET('/v1/organizations/{orgId}/members', {
      params: { path: { orgId: org.orgId }, query: { limit: 2 }, header: headers(id) },
    });
    expect(data?.data).toHaveLength(2);
    expect(await statementsOf(id)).toBe(1);
  });

  test('listAuditEvents costs one statement, with its filters and from a cursor', async () => {
    let cursor: string | undefined;
    for (const query of [{ limit: 1 }, { limit: 1, action: 'member.added' as const }]) {
      const id = requestId();
      const { data } = await org.owner.client.GET('/v1/organizations/{orgId}/audit-events', {
        params: {
          path: { orgId: org.orgId },
          query: cursor ? { ...query, cursor } : query,
          header: headers(id),
        },
      });
      expect(data?.data).toHaveLength(1);
      expect(await statementsOf(id)).toBe(1);
      cursor = data!.nextCursor ?? undefined;
    }
  });

  test('a refused read costs one statement too (unknown key, stranger, missing member)', async () => {
    const stranger = await createOrg(ctx);
    for (const [client, userId, status] of [
      [ctx.client('mrk_not-a-key'), target.userId, 401],
      [stranger.owner.client, target.userId, 404],
      [admin.client, 'usr_nobody', 404],
    ] as const) {
      const id = requestId();
      const { response } = await client.GET('/v1/organizations/{orgId}/members/{userId}', {
        params: { path: { orgId: org.orgId, userId }, header: headers(id) },
      });
      expect(response.status).toBe(status);
      expect(await statementsOf(id)).toBe(1);
    }
  });

  test('setMemberRole costs at most five: begin, lock, actor with member and role, writes, commit', async () => {
    for (const roleId of ['viewer', 'member']) {
      const id = requestId();
      const { data } = await admin.client.PUT('/v1/organizations/{orgId}/members/{userId}/role', {
        params: { path: { orgId: org.orgId, userId: target.userId }, header: headers(id) },
        body: { roleId },
      });
      expect(data?.role.id).toBe(roleId);
      expect(await statementsOf(id)).toBeLessThanOrEqual(5);
    }
  });

  test('with three webhook endpoints subscribed, a role change still costs at most five: the outbox rows go in the same last statement as the audit event', async () => {
    for (const n of [1, 2, 3]) {
      const { error } = await org.owner.client.POST('/v1/organizations/{orgId}/webhook-endpoints', {
        params: { path: { orgId: org.orgId } },
        body: { url: `https://hooks-${n}.example/member-roles`, events: ['member.role_changed'] },
      });
      expect(error).toBeUndefined();
    }
    for (const roleId of ['viewer', 'member']) {
      const id = requestId();
      const { data } = await admin.client.PUT('/v1/organizations/{orgId}/members/{userId}/role', {
        params: { path: { orgId: org.orgId, userId: target.userId }, header: headers(id) },
        body: { roleId },
      });
      expect(data?.role.id).toBe(roleId);
      expect(await statementsOf(id)).toBeLessThanOrEqual(5);
    }
    const endpoints = await org.owner.client.GET('/v1/organizations/{orgId}/webhook-endpoints', {
      params: { path: { orgId: org.orgId } },
    });
    for (const endpoint of endpoints.data!.data) {
      const { data } = await org.owner.client.GET(
        '/v1/organizations/{orgId}/webhook-endpoints/{endpointId}/deliveries',
        { params: { path: { orgId: org.orgId, endpointId: endpoint.id } } },
      );
      expect(data!.data.map((d) => d.eventType)).toEqual([
        'member.role_changed',
        'member.role_changed',
      ]);
    }
  });

  test('suspending and reactivating (updateMember) cost at most five each', async () => {
    for (const status of ['suspended', 'active'] as const) {
      const id = requestId();
      const { data } = await admin.client.PATCH('/v1/organizations/{orgId}/members/{userId}', {
        params: { path: { orgId: org.orgId, userId: target.userId }, header: headers(id) },
        body: { status },
      });
      expect(data?.status).toBe(status);
      expect(await statementsOf(id)).toBeLessThanOrEqual(5);
    }
  });
});

describe(`access decisions: database round trips (${onPostgres ? 'PostgreSQL' : 'PGlite'})`, () => {
  const question = (subject: string, action: string) => ({
    subject: { type: 'user' as const, id: subject },
    action: { name: action },
    resource: { type: 'organization' as const, id: org.orgId },
  });

  test("a single evaluation costs one statement: the caller's key, who may ask and the answer together", async () => {
    for (const [client, subject] of [
      [admin.client, target.userId],
      [target.client, target.userId],
      [ctx.platform, admin.userId],
    ] as const) {
      const id = requestId();
      const { data } = await client.POST('/access/v1/evaluation', {
        params: { header: headers(id) },
        body: question(subject, 'org:read'),
      });
      expect(data).toEqual({ decision: true });
      expect(await statementsOf(id)).toBe(1);
    }
  });

  test('a batch of 50 permission questions costs one statement, not one per question', async () => {
    const id = requestId();
    const { data } = await admin.client.POST('/access/v1/evaluations', {
      params: { header: headers(id) },
      body: {
        subject: { type: 'user', id: target.userId },
        resource: { type: 'organization', id: org.orgId },
        evaluations: Array.from({ length: 50 }, (_, i) => ({
          action: { name: i % 2 === 0 ? 'org:read' : 'org:manage' },
        })),
      },
    });
    expect(data!.evaluations).toHaveLength(50);
    expect(await statementsOf(id)).toBe(1);
  });

  test("a preview costs its write's statements plus one, and rolls back", async () => {
    const id = requestId();
    const { data } = await ctx.platform.POST('/access/v1/evaluation', {
      params: { header: headers(id) },
      body: {
        subject: { type: 'user', id: admin.userId },
        action: { name: 'member.set_role' },
        resource: {
          type: 'member',
          id: target.userId,
          properties: { organizationId: org.orgId, roleId: 'viewer' },
        },
      },
    });
    expect(data).toEqual({ decision: true });
    // The question's facts, then the write's: begin, lock, actor with member and role, writes,
    // rollback (a change costs at most five).
    expect(await statementsOf(id)).toBeLessThanOrEqual(6);
  });

  test('getEffectivePermissions costs one statement', async () => {
    const id = requestId();
    const { data } = await admin.client.GET(
      '/v1/organizations/{orgId}/members/{userId}/permissions',
      { params: { path: { orgId: org.orgId, userId: target.userId }, header: headers(id) } },
    );
    expect(data?.userId).toBe(target.userId);
    expect(await statementsOf(id)).toBe(1);
  });
});

describe(`invitations and batches: database round trips (${onPostgres ? 'PostgreSQL' : 'PGlite'})`, () => {
  test('listInvitations and getInvitation cost one statement each', async () => {
    const created = await org.owner.client.POST('/v1/organizations/{orgId}/invitations', {
      params: { path: { orgId: org.orgId } },
      body: { email: 'round-trips@example.test' },
    });
    const listed = requestId();
    const list = await admin.client.GET('/v1/organizations/{orgId}/invitations', {
      params: { path: { orgId: org.orgId }, header: headers(listed) },
    });
    expect(list.data!.data.length).toBeGreaterThan(0);
    expect(await statementsOf(listed)).toBe(1);
    const read = requestId();
    const one = await admin.client.GET('/v1/organizations/{orgId}/invitations/{invitationId}', {
      params: { path: { orgId: org.orgId, invitationId: created.data!.id }, header: headers(read) },
    });
    expect(one.data!.id).toBe(created.data!.id);
    expect(await statementsOf(read)).toBe(1);
  });

  test('a batch of 100 set_role items costs two statements per item plus five, far fewer than 100 requests of five', async () => {
    const userIds = Array.from({ length: 100 }, (_, i) => `usr_round_trip_${i}`);
    await admin.client.POST('/v1/organizations/{orgId}/members/batch', {
      params: { path: { orgId: org.orgId } },
      body: {
        operations: userIds.map((userId) => ({
          op: 'add' as const,
          userId,
          email: `${userId}@example.test`,
          roleId: 'viewer',
        })),
      },
    });
    const id = requestId();
    const { data } = await admin.client.POST('/v1/organizations/{orgId}/members/batch', {
      params: { path: { orgId: org.orgId }, header: headers(id) },
      body: {
        operations: userIds.map((userId) => ({
          op: 'set_role' as const,
          userId,
          roleId: 'member',
        })),
      },
    });
    expect(data!.results.every((r) => r.status === 200)).toBe(true);
    // BEGIN, the lock, the caller; per item its read and its writes; COMMIT. 100 single requests
    // cost 100 × 5.
    expect(await statementsOf(id)).toBeLessThanOrEqual(2 * 100 + 5);
  });

  test('acceptInvitation costs at most eight statements, team memberships included: the token’s organization, begin, lock, everything read in one, the membership, the other writes in one, commit', async () => {
    const team = await org.owner.client.POST('/v1/organizations/{orgId}/teams', {
      params: { path: { orgId: org.orgId } },
      body: { name: 'Round trips' },
    });
    const created = await org.owner.client.POST('/v1/organizations/{orgId}/invitations', {
      params: { path: { orgId: org.orgId } },
      body: { email: 'accepting@example.test', teams: [{ teamId: team.data!.id, role: 'member' }] },
    });
    const id = requestId();
    const { response } = await ctx.platform.POST('/v1/invitations/accept', {
      params: { header: headers(id) },
      body: {
        token: created.data!.token,
        userId: 'usr_accepting',
        email: 'accepting@example.test',
      },
    });
    expect(response.status).toBe(200);
    expect(await statementsOf(id)).toBeLessThanOrEqual(8);
  });
});
