import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { sql } from 'kysely';
import { RevisionCache } from '../server/infra/revision-cache.js';
import { startTestService, type TestContext } from './support/context.js';
import { addActor, createOrg, type TestOrg } from './support/scenario.js';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await startTestService();
});
afterAll(async () => {
  await ctx.stop();
});

const membersPath = '/v1/organizations/{orgId}/members' as const;

async function page(
  org: TestOrg,
  query: {
    limit?: number;
    cursor?: string;
    role?: string;
    status?: 'active' | 'suspended';
    q?: string;
  } = {},
) {
  const { data, error } = await org.owner.client.GET(membersPath, {
    params: { path: { orgId: org.orgId }, query },
  });
  if (!data) throw new Error(JSON.stringify(error));
  return data;
}

const memberOf = (list: Awaited<ReturnType<typeof page>>, userId: string) =>
  list.data.find((member) => member.userId === userId);

describe('a page of members sent again', () => {
  test('is the kept page while the organization stays at its revision, and rendered anew once the revision moves', async () => {
    const org = await createOrg(ctx);
    const dev = await addActor(ctx, org, 'member');
    expect(memberOf(await page(org), dev.userId)!.user.name).toBeNull();
    // Changed in the database behind the service's back, without raising the revision: the
    // service sends the page it kept, which shows the page is kept at all.
    const db = ctx.service.database.db;
    await sql`update memberships set name = 'Renamed' where org_id = ${org.orgId} and user_id = ${dev.userId}`.execute(
      db,
    );
    expect(memberOf(await page(org), dev.userId)!.user.name).toBeNull();
    // Cache-Control: no-cache has the page rendered anew all the same.
    const fresh = await org.owner.client.GET(membersPath, {
      params: { path: { orgId: org.orgId }, header: { 'Cache-Control': 'max-age=0, No-Cache' } },
    });
    expect(memberOf(fresh.data!, dev.userId)!.user.name).toBe('Renamed');
    await sql`update organizations set revision = gen_random_uuid() where id = ${org.orgId}`.execute(
      db,
    );
    expect(memberOf(await page(org), dev.userId)!.user.name).toBe('Renamed');
  });

  test('shows every change made through the service since: a role, a suspension, a team and its name, a role’s permissions, a member added and one removed', async () => {
    const org = await createOrg(ctx);
    const dev = await addActor(ctx, org, 'member');
    const leaving = await addActor(ctx, org, 'viewer');
    const client = org.owner.client;
    const path = { orgId: org.orgId };
    const before = await page(org);
    expect(await page(org)).toEqual(before);

    await client.PUT(`${membersPath}/{userId}/role`, {
      params: { path: { ...path, userId: dev.userId } },
      body: { roleId: 'admin' },
    });
    expect(memberOf(await page(org), dev.userId)!.role.id).toBe('admin');

    await client.PATCH(`${membersPath}/{userId}`, {
      params: { path: { ...path, userId: dev.userId } },
      body: { status: 'suspended' },
    });
    expect(memberOf(await page(org), dev.userId)!.status).toBe('suspended');

    const team = await client.POST('/v1/organizations/{orgId}/teams', {
      params: { path },
      body: { name: 'Platform' },
    });
    await client.PUT('/v1/organizations/{orgId}/teams/{teamId}/members/{userId}', {
      params: { path: { ...path, teamId: team.data!.id, userId: dev.userId } },
      body: { role: 'lead' },
    });
    expect(memberOf(await page(org), dev.userId)!.teams).toEqual([
      { id: team.data!.id, name: 'Platform', role: 'lead' },
    ]);
    await client.PATCH('/v1/organizations/{orgId}/teams/{teamId}', {
      params: { path: { ...path, teamId: team.data!.id } },
      body: { name: 'Core' },
    });
    expect(memberOf(await page(org), dev.userId)!.teams[0]!.name).toBe('Core');

    const role = await client.POST('/v1/organizations/{orgId}/roles', {
      params: { path },
      body: { name: 'Reader', permissions: ['org:read'] },
    });
    await client.PUT(`${membersPath}/{userId}/role`, {
      params: { path: { ...path, userId: leaving.userId } },
      body: { roleId: role.data!.id },
    });
    await client.PATCH('/v1/organizations/{orgId}/roles/{roleId}', {
      params: { path: { ...path, roleId: role.data!.id } },
      body: { permissions: ['org:read', 'members:read'] },
    });
    expect(memberOf(await page(org), leaving.userId)!.role.permissions).toEqual([
      'org:read',
      'members:read',
    ]);

    await client.POST(membersPath, {
      params: { path },
      body: { userId: 'usr_newcomer', email: 'newcomer@example.test' },
    });
    await client.DELETE(`${membersPath}/{userId}`, {
      params: { path: { ...path, userId: leaving.userId } },
    });
    const after = await page(org);
    expect(after.data.map((member) => member.userId).sort()).toEqual(
      [org.owner.userId, dev.userId, 'usr_newcomer'].sort(),
    );
  });

  test('shows a product permission given to a built-in role, and taken back, on the next page (a change outside any one organization)', async () => {
    const org = await createOrg(ctx);
    const dev = await addActor(ctx, org, 'member');
    const permissionsOf = async () => memberOf(await page(org), dev.userId)!.role.permissions;
    const id = `pages${Math.floor(Math.random() * 1e9)}:read`;
    expect(await permissionsOf()).not.toContain(id);
    const put = (includedIn: 'member'[]) =>
      ctx.platform.PUT('/v1/permissions/{permissionId}', {
        params: { path: { permissionId: id } },
        body: { description: 'Read pages.', includedIn },
      });
    expect((await put(['member'])).response.status).toBe(201);
    expect(await permissionsOf()).toContain(id);
    expect((await put([])).response.status).toBe(200);
    expect(await permissionsOf()).not.toContain(id);
    await ctx.platform.DELETE('/v1/permissions/{permissionId}', {
      params: { path: { permissionId: id } },
    });
  });

  test('is refused to a caller who may no longer read members', async () => {
    const org = await createOrg(ctx);
    const reader = await addActor(ctx, org, 'viewer');
    const read = () => reader.client.GET(membersPath, { params: { path: { orgId: org.orgId } } });
    expect((await read()).response.status).toBe(200);
    const role = await org.owner.client.POST('/v1/organizations/{orgId}/roles', {
      params: { path: { orgId: org.orgId } },
      body: { name: 'Blind', permissions: ['org:read'] },
    });
    await org.owner.client.PUT(`${membersPath}/{userId}/role`, {
      params: { path: { orgId: org.orgId, userId: reader.userId } },
      body: { roleId: role.data!.id },
    });
    expect((await read()).response.status).toBe(403);
  });

  test('keeps each page by its position: the next page is not the first one', async () => {
    const org = await createOrg(ctx);
    for (let i = 0; i < 3; i += 1) await addActor(ctx, org, 'member');
    const first = await page(org, { limit: 2 });
    const second = await page(org, { limit: 2, cursor: first.nextCursor! });
    expect(await page(org, { limit: 2 })).toEqual(first);
    expect(await page(org, { limit: 2, cursor: first.nextCursor! })).toEqual(second);
    expect(second.data.map((m) => m.userId)).not.toEqual(first.data.map((m) => m.userId));
    expect(second.nextCursor).toBeNull();
  });
});

describe('a page of members asked with filters', () => {
  test('is kept by its filters: a filtered page is never an unfiltered one, nor another filter’s', async () => {
    const org = await createOrg(ctx);
    const viewer = await addActor(ctx, org, 'viewer', 'usr_pagecache_viewer');
    const member = await addActor(ctx, org, 'member', 'usr_pagecache_member');
    const ids = async (query: Parameters<typeof page>[1]) =>
      (await page(org, query)).data.map((m) => m.userId).sort();
    expect(await ids({})).toEqual([org.owner.userId, member.userId, viewer.userId].sort());
    expect(await ids({ role: 'viewer' })).toEqual([viewer.userId]);
    expect(await ids({ role: 'member' })).toEqual([member.userId]);
    expect(await ids({ q: 'pagecache_m' })).toEqual([member.userId]);
    expect(await ids({ status: 'suspended' })).toEqual([]);
    expect(await ids({ role: 'viewer' })).toEqual([viewer.userId]);
  });
});

describe('the kept pages', () => {
  test('hold at most their capacity, and the least recently used goes first', () => {
    const cache = new RevisionCache<string>(30, (text) => text.length);
    cache.set('a', '1', 'x'.repeat(9)); // 10 with its key
    cache.set('b', '1', 'x'.repeat(9));
    cache.set('c', '1', 'x'.repeat(9));
    expect(cache.size).toBe(30);
    expect(cache.get('a')?.revision).toBe('1'); // now b is the least recently used
    cache.set('d', '2', 'x'.repeat(9));
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')?.value).toHaveLength(9);
    expect(cache.size).toBe(30);
    cache.set('a', '3', 'y');
    expect(cache.get('a')).toMatchObject({ revision: '3', value: 'y' });
    expect(cache.size).toBe(22);
  });

  test('let go of answers in the order they were last used, whatever that order was', () => {
    const cache = new RevisionCache<string>(50, (text) => text.length);
    for (const key of ['a', 'b', 'c', 'd', 'e']) cache.set(key, '1', 'x'.repeat(9));
    cache.get('c');
    cache.get('a');
    cache.set('e', '2', 'y'.repeat(9)); // a new revision of e: used now too
    cache.get('c'); // oldest to newest: b, d, a, e, c
    const kept = () => ['a', 'b', 'c', 'd', 'e'].filter((key) => cache.get(key) !== undefined);
    cache.set('f', '1', 'x'.repeat(9));
    expect(cache.size).toBe(50);
    cache.set('g', '1', 'x'.repeat(19)); // 20 more: d and a go
    expect(cache.size).toBe(50);
    expect(kept()).toEqual(['c', 'e']);
    expect(cache.get('e')?.value).toBe('y'.repeat(9));
  });

  test('keep the answer they hold for a revision when the same revision comes again', () => {
    const cache = new RevisionCache<string[]>(100, (parts) => parts.join('').length);
    const first = ['page at 1'];
    cache.set('a', '1', first);
    cache.set('b', '1', ['other']);
    cache.set('a', '1', ['page at 1']); // rendered anew, nothing changed: a is used again
    cache.set('c', '1', ['x'.repeat(88)]); // b, the least recently used, goes first
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')?.value).toBe(first);
    cache.set('a', '2', ['page at 2']);
    expect(cache.get('a')).toMatchObject({ revision: '2', value: ['page at 2'] });
  });

  test('keep nothing larger than their capacity, and nothing at capacity 0', () => {
    const small = new RevisionCache<string>(5, (text) => text.length);
    small.set('k', '1', 'too long');
    expect(small.get('k')).toBeUndefined();
    const none = new RevisionCache<string>(0, (text) => text.length);
    none.set('k', '1', '');
    expect(none.get('k')).toBeUndefined();
    expect(none.size).toBe(0);
  });
});
