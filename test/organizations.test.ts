import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { startTestService, type TestContext } from './support/context.js';
import { addActor, createOrg } from './support/scenario.js';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await startTestService();
});
afterAll(async () => {
  await ctx.stop();
});

describe('createOrganization', () => {
  test('the platform key creates an organization with its owner and the owner’s first key, which works', async () => {
    const { data, response } = await ctx.platform.POST('/v1/organizations', {
      body: {
        name: 'Initech',
        slug: 'initech',
        owner: { userId: 'auth0|654a2f4d1b3c4e9a8d2f3c1b', email: 'peter@initech.test' },
      },
    });
    expect(response.status).toBe(201);
    expect(data!.organization).toMatchObject({ name: 'Initech', slug: 'initech' });
    expect(data!.organization.id).toMatch(/^org_[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(data!.owner).toMatchObject({
      userId: 'auth0|654a2f4d1b3c4e9a8d2f3c1b',
      role: { id: 'owner' },
    });
    expect(data!.apiKey.secret).toMatch(/^mrk_[A-Za-z0-9_-]{43}$/);
    const me = await ctx.client(data!.apiKey.secret).GET('/v1/organizations/{orgId}/me', {
      params: { path: { orgId: data!.organization.id } },
    });
    expect(me.data!.role.id).toBe('owner');
  });

  test('a member key cannot create organizations (403 INSUFFICIENT_PERMISSION)', async () => {
    const org = await createOrg(ctx);
    const { error, response } = await org.owner.client.POST('/v1/organizations', {
      body: { name: 'Nope', slug: 'nope-org', owner: { userId: 'usr_1', email: 'a@example.test' } },
    });
    expect(response.status).toBe(403);
    expect(error!.code).toBe('INSUFFICIENT_PERMISSION');
  });

  test('a slug already in use is 409 SLUG_TAKEN', async () => {
    const body = {
      name: 'Dup',
      slug: 'dup-slug',
      owner: { userId: 'usr_1', email: 'a@example.test' },
    };
    expect((await ctx.platform.POST('/v1/organizations', { body })).response.status).toBe(201);
    const { error, response } = await ctx.platform.POST('/v1/organizations', { body });
    expect(response.status).toBe(409);
    expect(error!.code).toBe('SLUG_TAKEN');
  });

  test('no key at all is 401 UNAUTHENTICATED with WWW-Authenticate', async () => {
    const { error, response } = await ctx.client().POST('/v1/organizations', {
      body: { name: 'Anon', slug: 'anon', owner: { userId: 'usr_1', email: 'a@example.test' } },
    });
    expect(response.status).toBe(401);
    expect(error!.code).toBe('UNAUTHENTICATED');
    expect(response.headers.get('www-authenticate')).toBeTruthy();
  });
});

describe('getOrganization and updateOrganization', () => {
  test('a member reads the organization; only org:manage may rename it, and the change is audited', async () => {
    const org = await createOrg(ctx);
    const member = await addActor(ctx, org, 'member');
    const read = await member.client.GET('/v1/organizations/{orgId}', {
      params: { path: { orgId: org.orgId } },
    });
    expect(read.data!.id).toBe(org.orgId);
    const refused = await member.client.PATCH('/v1/organizations/{orgId}', {
      params: { path: { orgId: org.orgId } },
      body: { name: 'Renamed' },
    });
    expect(refused.error!.code).toBe('INSUFFICIENT_PERMISSION');
    const renamed = await org.owner.client.PATCH('/v1/organizations/{orgId}', {
      params: { path: { orgId: org.orgId } },
      body: { name: 'Renamed' },
    });
    expect(renamed.data!.name).toBe('Renamed');
    const events = await org.owner.client.GET('/v1/organizations/{orgId}/audit-events', {
      params: { path: { orgId: org.orgId }, query: { action: 'organization.updated' } },
    });
    expect(events.data!.data[0]).toMatchObject({
      before: { name: 'Test organization' },
      after: { name: 'Renamed' },
    });
  });

  test('changing the slug to one in use is 409 SLUG_TAKEN and changes nothing', async () => {
    const first = await createOrg(ctx);
    const second = await createOrg(ctx);
    const taken = (
      await first.owner.client.GET('/v1/organizations/{orgId}', {
        params: { path: { orgId: first.orgId } },
      })
    ).data!.slug;
    const { error } = await second.owner.client.PATCH('/v1/organizations/{orgId}', {
      params: { path: { orgId: second.orgId } },
      body: { slug: taken },
    });
    expect(error!.code).toBe('SLUG_TAKEN');
    const after = await second.owner.client.GET('/v1/organizations/{orgId}', {
      params: { path: { orgId: second.orgId } },
    });
    expect(after.data!.slug).not.toBe(taken);
  });
});

describe('tenancy (rule 7)', () => {
  test("another organization's owner gets the same 404 as for an organization that does not exist", async () => {
    const org = await createOrg(ctx);
    const stranger = await createOrg(ctx);
    const hidden = await stranger.owner.client.GET('/v1/organizations/{orgId}/members', {
      params: { path: { orgId: org.orgId } },
    });
    const absent = await stranger.owner.client.GET('/v1/organizations/{orgId}/members', {
      params: { path: { orgId: 'org_01JD0000000000000000000000' } },
    });
    expect(hidden.response.status).toBe(404);
    expect(absent.response.status).toBe(404);
    const visible = (p: unknown) => {
      const { code, status, title, detail } = p as Record<string, unknown>;
      return { code, status, title, detail };
    };
    expect(visible(hidden.error)).toEqual(visible(absent.error));
    const write = await stranger.owner.client.PUT(
      '/v1/organizations/{orgId}/members/{userId}/role',
      {
        params: { path: { orgId: org.orgId, userId: org.owner.userId } },
        body: { roleId: 'viewer' },
      },
    );
    expect(write.response.status).toBe(404);
  });

  test('the platform key reads every organization but changes memberships only on behalf of a member (403 ON_BEHALF_OF_REQUIRED)', async () => {
    const org = await createOrg(ctx);
    const members = await ctx.platform.GET('/v1/organizations/{orgId}/members', {
      params: { path: { orgId: org.orgId } },
    });
    expect(members.response.status).toBe(200);
    expect(members.data!.data.map((m) => m.userId)).toEqual([org.owner.userId]);
    const added = await ctx.platform.POST('/v1/organizations/{orgId}/members', {
      params: { path: { orgId: org.orgId } },
      body: { userId: 'usr_by_platform', email: 'p@example.test' },
    });
    expect(added.response.status).toBe(403);
    expect(added.error!.code).toBe('ON_BEHALF_OF_REQUIRED');
    const after = await ctx.platform.GET('/v1/organizations/{orgId}/members', {
      params: { path: { orgId: org.orgId } },
    });
    expect(after.data!.data).toHaveLength(1);
    // It is a member of nothing: it has no membership of its own.
    const me = await ctx.platform.GET('/v1/organizations/{orgId}/me', {
      params: { path: { orgId: org.orgId } },
    });
    expect(me.response.status).toBe(404);
  });

  test('a member of another organization still gets the same 404 as for one that does not exist', async () => {
    const org = await createOrg(ctx);
    const other = await createOrg(ctx);
    const theirs = await other.owner.client.GET('/v1/organizations/{orgId}/members', {
      params: { path: { orgId: org.orgId } },
    });
    const nobodys = await other.owner.client.GET('/v1/organizations/{orgId}/members', {
      params: { path: { orgId: 'org_01JDQ3Z4W8X5N6M7P8Q9R0S1T2' } },
    });
    expect(theirs.response.status).toBe(404);
    expect(nobodys.response.status).toBe(404);
    expect({ ...theirs.error, instance: '', requestId: '' }).toEqual({
      ...nobodys.error,
      instance: '',
      requestId: '',
    });
  });
});
