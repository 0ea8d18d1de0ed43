import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { startTestService, type TestContext } from './support/context.js';
import { addActor, createOrg, type TestOrg } from './support/scenario.js';

let ctx: TestContext;
let org: TestOrg;
const ids = [
  'auth0|654a2f4d1b3c4e9a8d2f3c1b',
  'samlp|acme|bob@acme.com',
  'usr_abc',
  '42',
  'a.b_c~d@e|f:g+h=i-j',
  'name%with_percent',
];

beforeAll(async () => {
  ctx = await startTestService();
  org = await createOrg(ctx, 'owner-1');
  for (const [index, userId] of ids.entries()) {
    const { response } = await org.owner.client.POST('/v1/organizations/{orgId}/members', {
      params: { path: { orgId: org.orgId } },
      body: {
        userId: userId.replace('%', ''),
        email: `person${index}@example.test`,
        name: index === 5 ? 'Percent_Person' : `Person ${index}`,
        roleId: index % 2 === 0 ? 'viewer' : 'member',
      },
    });
    expect(response.status).toBe(201);
  }
});
afterAll(async () => {
  await ctx.stop();
});

const membersPath = '/v1/organizations/{orgId}/members' as const;

describe('user ids', () => {
  test.each(ids.slice(0, 5))('the id %s round-trips through the path exactly', async (userId) => {
    const { data, response } = await org.owner.client.GET(`${membersPath}/{userId}`, {
      params: { path: { orgId: org.orgId, userId } },
    });
    expect(response.status).toBe(200);
    expect(data!.userId).toBe(userId);
    expect(data!.user.id).toBe(userId);
  });

  test('the client percent-encodes |, @ and : in paths', async () => {
    const { response } = await org.owner.client.GET(`${membersPath}/{userId}`, {
      params: { path: { orgId: org.orgId, userId: 'samlp|acme|bob@acme.com' } },
    });
    expect(new URL(response.url).pathname).toBe(
      `/v1/organizations/${org.orgId}/members/samlp%7Cacme%7Cbob%40acme.com`,
    );
  });

  test.each(['has space', 'slash/inside', 'a'.repeat(256), 'é'])(
    'an id outside the pattern (%s) is 400 VALIDATION_FAILED, never 404 or 500',
    async (userId) => {
      const res = await fetch(
        `${ctx.url}/v1/organizations/${org.orgId}/members/${encodeURIComponent(userId)}`,
        { headers: { Authorization: `Bearer ${org.owner.key}` } },
      );
      expect(res.status).toBe(400);
      expect(((await res.json()) as { code: string }).code).toBe('VALIDATION_FAILED');
    },
  );
});

describe('listMembers', () => {
  test('keyset pagination returns every member exactly once, in a stable order', async () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const { data } = await org.owner.client.GET(membersPath, {
        params: { path: { orgId: org.orgId }, query: { limit: 2, ...(cursor ? { cursor } : {}) } },
      });
      seen.push(...data!.data.map((m) => m.userId));
      cursor = data!.nextCursor ?? undefined;
      pages += 1;
    } while (cursor);
    expect(pages).toBe(4);
    expect(seen).toHaveLength(7);
    expect(new Set(seen).size).toBe(7);
    expect([...seen].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))).toEqual(seen);
  });

  test('filters by role and status', async () => {
    const { data } = await org.owner.client.GET(membersPath, {
      params: { path: { orgId: org.orgId }, query: { role: 'viewer', status: 'active' } },
    });
    expect(data!.data.map((m) => m.userId).sort()).toEqual(
      ['a.b_c~d@e|f:g+h=i-j', 'auth0|654a2f4d1b3c4e9a8d2f3c1b', 'usr_abc'].sort(),
    );
  });

  test('q matches user id, email and name case-insensitively, and treats % and _ literally', async () => {
    const byEmail = await org.owner.client.GET(membersPath, {
      params: { path: { orgId: org.orgId }, query: { q: 'PERSON3@' } },
    });
    expect(byEmail.data!.data.map((m) => m.userId)).toEqual(['42']);
    const underscore = await org.owner.client.GET(membersPath, {
      params: { path: { orgId: org.orgId }, query: { q: 't_p' } },
    });
    expect(underscore.data!.data.map((m) => m.userId)).toEqual(['namewith_percent']);
    const notAWildcard = await org.owner.client.GET(membersPath, {
      params: { path: { orgId: org.orgId }, query: { q: 'n_3' } },
    });
    expect(notAWildcard.data!.data).toEqual([]);
    const percent = await org.owner.client.GET(membersPath, {
      params: { path: { orgId: org.orgId }, query: { q: '%' } },
    });
    expect(percent.data!.data).toEqual([]);
  });

  test('a cursor from another organization is 400 VALIDATION_FAILED', async () => {
    const other = await createOrg(ctx);
    await addActor(ctx, other, 'member');
    const page = await other.owner.client.GET(membersPath, {
      params: { path: { orgId: other.orgId }, query: { limit: 1 } },
    });
    const { error } = await org.owner.client.GET(membersPath, {
      params: { path: { orgId: org.orgId }, query: { cursor: page.data!.nextCursor! } },
    });
    expect(error!.code).toBe('VALIDATION_FAILED');
    const tampered = await org.owner.client.GET(membersPath, {
      params: { path: { orgId: org.orgId }, query: { cursor: 'not-a-cursor' } },
    });
    expect(tampered.error!.code).toBe('VALIDATION_FAILED');
  });

  test.each(['0', '-1', 'abc', '101'])('limit=%s is 400 VALIDATION_FAILED', async (limit) => {
    const res = await fetch(`${ctx.url}/v1/organizations/${org.orgId}/members?limit=${limit}`, {
      headers: { Authorization: `Bearer ${org.owner.key}` },
    });
    expect(res.status).toBe(400);
  });
});

describe('roles and permissions', () => {
  test('listRoles shows the four built-in roles with their member counts', async () => {
    const { data } = await org.owner.client.GET('/v1/organizations/{orgId}/roles', {
      params: { path: { orgId: org.orgId } },
    });
    expect(data!.data.map((r) => [r.id, r.builtIn, r.memberCount])).toEqual([
      ['owner', true, 1],
      ['admin', true, 0],
      ['member', true, 3],
      ['viewer', true, 3],
    ]);
    expect(data!.data.find((r) => r.id === 'member')!.isDefault).toBe(true);
  });

  test('getRole answers with an ETag; an unknown role is 404', async () => {
    const { data, response } = await org.owner.client.GET(
      '/v1/organizations/{orgId}/roles/{roleId}',
      {
        params: { path: { orgId: org.orgId, roleId: 'admin' } },
      },
    );
    expect(data!.permissions).not.toContain('billing:manage');
    expect(data!.permissions).toHaveLength(13);
    expect(response.headers.get('etag')).toBe(`"${data!.version}"`);
    const missing = await org.owner.client.GET('/v1/organizations/{orgId}/roles/{roleId}', {
      params: { path: { orgId: org.orgId, roleId: 'role_01JD0000000000000000000000' } },
    });
    expect(missing.response.status).toBe(404);
  });

  test('listPermissions names all 14 service permissions to any authenticated caller', async () => {
    for (const client of [ctx.platform, org.owner.client]) {
      const { data } = await client.GET('/v1/permissions');
      expect(data!.data.map((p) => p.id)).toHaveLength(14);
    }
  });

  test('a viewer (no roles:read) cannot list roles', async () => {
    const viewer = await addActor(ctx, org, 'viewer');
    const { error } = await viewer.client.GET('/v1/organizations/{orgId}/roles', {
      params: { path: { orgId: org.orgId } },
    });
    expect(error!.code).toBe('INSUFFICIENT_PERMISSION');
  });
});

describe('listAuditEvents', () => {
  test('newest first, filtered by action, actor and target, and paginated by keyset', async () => {
    const admin = await addActor(ctx, org, 'admin');
    await admin.client.PUT('/v1/organizations/{orgId}/members/{userId}/role', {
      params: { path: { orgId: org.orgId, userId: '42' } },
      body: { roleId: 'viewer' },
    });
    await admin.client.PUT('/v1/organizations/{orgId}/members/{userId}/role', {
      params: { path: { orgId: org.orgId, userId: 'usr_abc' } },
      body: { roleId: 'member' },
    });
    const byActor = await org.owner.client.GET('/v1/organizations/{orgId}/audit-events', {
      params: { path: { orgId: org.orgId }, query: { actorId: admin.userId } },
    });
    expect(byActor.data!.data.map((e) => e.targetUserId)).toEqual(['usr_abc', '42']);
    const byTarget = await org.owner.client.GET('/v1/organizations/{orgId}/audit-events', {
      params: {
        path: { orgId: org.orgId },
        query: { targetUserId: '42', action: 'member.role_changed' },
      },
    });
    expect(byTarget.data!.data).toHaveLength(1);
    const future = await org.owner.client.GET('/v1/organizations/{orgId}/audit-events', {
      params: {
        path: { orgId: org.orgId },
        query: { since: new Date(Date.now() + 60_000).toISOString() },
      },
    });
    expect(future.data!.data).toEqual([]);
    const lastHour = await org.owner.client.GET('/v1/organizations/{orgId}/audit-events', {
      params: {
        path: { orgId: org.orgId },
        query: { since: new Date(Date.now() - 3_600_000).toISOString(), actorId: admin.userId },
      },
    });
    expect(lastHour.data!.data.map((e) => e.targetUserId)).toEqual(['usr_abc', '42']);

    const all: string[] = [];
    let cursor: string | undefined;
    do {
      const { data } = await org.owner.client.GET('/v1/organizations/{orgId}/audit-events', {
        params: { path: { orgId: org.orgId }, query: { limit: 3, ...(cursor ? { cursor } : {}) } },
      });
      all.push(...data!.data.map((e) => e.id));
      cursor = data!.nextCursor ?? undefined;
    } while (cursor);
    expect(new Set(all).size).toBe(all.length);
    expect([...all].sort().reverse()).toEqual(all);
  });

  test('a member without audit:read cannot read the trail', async () => {
    const member = await addActor(ctx, org, 'member');
    const { error } = await member.client.GET('/v1/organizations/{orgId}/audit-events', {
      params: { path: { orgId: org.orgId } },
    });
    expect(error!.code).toBe('INSUFFICIENT_PERMISSION');
  });
});
