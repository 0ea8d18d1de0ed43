import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { startTestService, type TestContext } from './support/context.js';
import { addActor, auditActions, createOrg, roleOf, type TestOrg } from './support/scenario.js';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await startTestService();
});
afterAll(async () => {
  await ctx.stop();
});

const memberPath = '/v1/organizations/{orgId}/members/{userId}' as const;
const rolePath = '/v1/organizations/{orgId}/members/{userId}/role' as const;

async function setRole(
  actor: { client: TestOrg['owner']['client'] },
  org: TestOrg,
  userId: string,
  roleId: string,
) {
  return actor.client.PUT(rolePath, {
    params: { path: { orgId: org.orgId, userId } },
    body: { roleId },
  });
}

describe('setMemberRole', () => {
  test('an admin changes a member to viewer: new role, version + 1, one audit event with before and after', async () => {
    const org = await createOrg(ctx);
    const admin = await addActor(ctx, org, 'admin');
    const member = await addActor(ctx, org, 'member');
    const before = await org.owner.client.GET(memberPath, {
      params: { path: { orgId: org.orgId, userId: member.userId } },
    });
    const { data, response } = await setRole(admin, org, member.userId, 'viewer');
    expect(response.status).toBe(200);
    expect(data!.role).toEqual({
      id: 'viewer',
      name: 'Viewer',
      permissions: ['org:read', 'members:read'],
    });
    expect(data!.version).toBe(before.data!.version + 1);
    expect(response.headers.get('etag')).toBe(`"${data!.version}"`);
    const events = await org.owner.client.GET('/v1/organizations/{orgId}/audit-events', {
      params: { path: { orgId: org.orgId }, query: { action: 'member.role_changed' } },
    });
    expect(events.data!.data).toHaveLength(1);
    expect(events.data!.data[0]).toMatchObject({
      action: 'member.role_changed',
      actor: { type: 'member', userId: admin.userId },
      targetUserId: member.userId,
      before: { roleId: 'member' },
      after: { roleId: 'viewer' },
    });
  });

  test('rule 1: an actor without members:manage is refused with 403 INSUFFICIENT_PERMISSION and nothing changes', async () => {
    const org = await createOrg(ctx);
    const member = await addActor(ctx, org, 'member');
    const viewer = await addActor(ctx, org, 'viewer');
    const { error, response } = await setRole(member, org, viewer.userId, 'member');
    expect(response.status).toBe(403);
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(error).toMatchObject({ code: 'INSUFFICIENT_PERMISSION', status: 403 });
    expect(await roleOf(org, viewer.userId)).toBe('viewer');
  });

  test('rule 2: an admin cannot grant the owner role (billing:manage is beyond their ceiling)', async () => {
    const org = await createOrg(ctx);
    const admin = await addActor(ctx, org, 'admin');
    const member = await addActor(ctx, org, 'member');
    const { error, response } = await setRole(admin, org, member.userId, 'owner');
    expect(response.status).toBe(403);
    expect(error!.code).toBe('PRIVILEGE_CEILING');
    expect(await roleOf(org, member.userId)).toBe('member');
  });

  test('rule 2: an admin cannot take away what they do not hold (a member whose role holds billing:manage)', async () => {
    const org = await createOrg(ctx);
    const billing = await org.owner.client.POST('/v1/organizations/{orgId}/roles', {
      params: { path: { orgId: org.orgId } },
      body: { name: 'Billing', permissions: ['org:read', 'billing:manage'] },
    });
    const accountant = await addActor(ctx, org, billing.data!.id);
    const admin = await addActor(ctx, org, 'admin');
    const { error, response } = await setRole(admin, org, accountant.userId, 'viewer');
    expect(response.status).toBe(403);
    expect(error!.code).toBe('PRIVILEGE_CEILING');
    expect(await roleOf(org, accountant.userId)).toBe(billing.data!.id);
  });

  test("rule 4: nobody, not even an admin, changes the owner's role: 409 OWNER_REQUIRED", async () => {
    const org = await createOrg(ctx);
    const admin = await addActor(ctx, org, 'admin');
    const { error, response } = await setRole(admin, org, org.owner.userId, 'viewer');
    expect(response.status).toBe(409);
    expect(error!.code).toBe('OWNER_REQUIRED');
    expect(await roleOf(org, org.owner.userId)).toBe('owner');
  });

  test('rule 3: the owner assigning owner transfers ownership and demotes the former owner to admin, with two audit events', async () => {
    const org = await createOrg(ctx);
    const member = await addActor(ctx, org, 'member');
    const { data, response } = await setRole(org.owner, org, member.userId, 'owner');
    expect(response.status).toBe(200);
    expect(data!.role.id).toBe('owner');
    expect(await roleOf(org, org.owner.userId)).toBe('admin');
    const owners = await member.client.GET('/v1/organizations/{orgId}/members', {
      params: { path: { orgId: org.orgId }, query: { role: 'owner' } },
    });
    expect(owners.data!.data.map((m) => m.userId)).toEqual([member.userId]);
    const actions = await auditActions({ ...org, owner: member });
    expect(actions.filter((a) => a === 'ownership.transferred')).toHaveLength(2);
  });

  test('rule 4: the owner cannot change their own role: 409 OWNER_REQUIRED', async () => {
    const org = await createOrg(ctx);
    const { error, response } = await setRole(org.owner, org, org.owner.userId, 'admin');
    expect(response.status).toBe(409);
    expect(error!.code).toBe('OWNER_REQUIRED');
    expect(await roleOf(org, org.owner.userId)).toBe('owner');
  });

  test('If-Match takes a list of tags; weak, zero-padded or foreign tags never match; strangers still get 404', async () => {
    const org = await createOrg(ctx);
    const member = await addActor(ctx, org, 'member');
    const put = (ifMatch: string, client = org.owner.client, orgId = org.orgId) =>
      client.PUT(rolePath, {
        params: { path: { orgId, userId: member.userId }, header: { 'If-Match': ifMatch } },
        body: { roleId: 'viewer' },
      });
    expect((await put('W/"1"')).response.status).toBe(412);
    expect((await put('"01"')).response.status).toBe(412);
    expect((await put('"7", "8"')).response.status).toBe(412);
    const stranger = await createOrg(ctx);
    expect((await put('W/"1"', stranger.owner.client)).response.status).toBe(404);
    // An unquoted tag is a mistake to point out, not a version that changed.
    for (const malformed of ['1', "'1'", '"1", 2', '"1" "2"']) {
      const refused = await put(malformed);
      expect(refused.response.status).toBe(400);
      expect(refused.error!.code).toBe('VALIDATION_FAILED');
      expect(refused.error!.detail).toContain('If-Match: "3"');
      expect(refused.error!.errors).toEqual([
        { location: 'header', path: 'If-Match', message: refused.error!.detail },
      ]);
    }
    expect(await roleOf(org, member.userId)).toBe('member');
    const listed = await put('"7", "1"');
    expect(listed.response.status).toBe(200);
    expect(listed.data!.role.id).toBe('viewer');
  });

  test('rule 5: a member may lower their own role', async () => {
    const org = await createOrg(ctx);
    const admin = await addActor(ctx, org, 'admin');
    const { data, response } = await setRole(admin, org, admin.userId, 'viewer');
    expect(response.status).toBe(200);
    expect(data!.role.id).toBe('viewer');
  });

  test('rule 5: an admin cannot raise their own role to owner', async () => {
    const org = await createOrg(ctx);
    const admin = await addActor(ctx, org, 'admin');
    const { error } = await setRole(admin, org, admin.userId, 'owner');
    expect(error!.code).toBe('PRIVILEGE_CEILING');
    expect(await roleOf(org, admin.userId)).toBe('admin');
  });

  test('rule 3: only the owner assigns owner, even for a custom role holding every permission', async () => {
    const org = await createOrg(ctx);
    const all = await org.owner.client.GET('/v1/permissions');
    const created = await org.owner.client.POST('/v1/organizations/{orgId}/roles', {
      params: { path: { orgId: org.orgId } },
      body: { name: 'Everything', permissions: all.data!.data.map((p) => p.id) },
    });
    const deputy = await addActor(ctx, org, created.data!.id);
    const member = await addActor(ctx, org, 'member');
    const assigned = await setRole(deputy, org, member.userId, 'owner');
    expect(assigned.response.status).toBe(403);
    expect(assigned.error).toMatchObject({
      code: 'PRIVILEGE_CEILING',
      detail: 'Only the owner can assign the owner role.',
    });
    const raised = await setRole(deputy, org, deputy.userId, 'owner');
    expect(raised.error?.code).toBe('PRIVILEGE_CEILING');
    expect(await roleOf(org, member.userId)).toBe('member');
    expect(await roleOf(org, deputy.userId)).toBe(created.data!.id);
    expect(await roleOf(org, org.owner.userId)).toBe('owner');
  });

  test('rule 6: setting the role a member already has is a no-op: 200, same version, no audit event', async () => {
    const org = await createOrg(ctx);
    const member = await addActor(ctx, org, 'member');
    const eventsBefore = await auditActions(org);
    const first = await org.owner.client.GET(memberPath, {
      params: { path: { orgId: org.orgId, userId: member.userId } },
    });
    const { data, response } = await setRole(org.owner, org, member.userId, 'member');
    expect(response.status).toBe(200);
    expect(data).toEqual(first.data);
    expect(await auditActions(org)).toEqual(eventsBefore);
  });

  test("a role change applies to the member's very next request", async () => {
    const org = await createOrg(ctx);
    const admin = await addActor(ctx, org, 'admin');
    const member = await addActor(ctx, org, 'member');
    expect((await setRole(admin, org, member.userId, 'viewer')).response.status).toBe(200);
    await setRole(org.owner, org, admin.userId, 'viewer');
    const { error } = await setRole(admin, org, member.userId, 'member');
    expect(error!.code).toBe('INSUFFICIENT_PERMISSION');
  });

  test('a role that does not exist is 400 VALIDATION_FAILED naming /roleId', async () => {
    const org = await createOrg(ctx);
    const member = await addActor(ctx, org, 'member');
    const { error } = await setRole(
      org.owner,
      org,
      member.userId,
      'role_01JD0000000000000000000000',
    );
    expect(error).toMatchObject({ code: 'VALIDATION_FAILED' });
    expect(error!.errors).toEqual([expect.objectContaining({ location: 'body', path: '/roleId' })]);
  });

  test('a stale If-Match is 412 PRECONDITION_FAILED and changes nothing; the current ETag succeeds', async () => {
    const org = await createOrg(ctx);
    const member = await addActor(ctx, org, 'member');
    const read = await org.owner.client.GET(memberPath, {
      params: { path: { orgId: org.orgId, userId: member.userId } },
    });
    const tag = read.response.headers.get('etag')!;
    const stale = await org.owner.client.PUT(rolePath, {
      params: {
        path: { orgId: org.orgId, userId: member.userId },
        header: { 'If-Match': `"${read.data!.version + 5}"` },
      },
      body: { roleId: 'viewer' },
    });
    expect(stale.response.status).toBe(412);
    expect(stale.error!.code).toBe('PRECONDITION_FAILED');
    const weak = await org.owner.client.PUT(rolePath, {
      params: {
        path: { orgId: org.orgId, userId: member.userId },
        header: { 'If-Match': `W/${tag}` },
      },
      body: { roleId: 'viewer' },
    });
    expect(weak.response.status).toBe(412);
    expect(await roleOf(org, member.userId)).toBe('member');
    const fresh = await org.owner.client.PUT(rolePath, {
      params: { path: { orgId: org.orgId, userId: member.userId }, header: { 'If-Match': tag } },
      body: { roleId: 'viewer' },
    });
    expect(fresh.response.status).toBe(200);
  });
});

describe('updateMember', () => {
  test('rule 12: roleId and status change together in one version step with one audit event each', async () => {
    const org = await createOrg(ctx);
    const member = await addActor(ctx, org, 'member');
    const before = await org.owner.client.GET(memberPath, {
      params: { path: { orgId: org.orgId, userId: member.userId } },
    });
    const { data } = await org.owner.client.PATCH(memberPath, {
      params: { path: { orgId: org.orgId, userId: member.userId } },
      body: { roleId: 'viewer', status: 'suspended' },
    });
    expect(data).toMatchObject({
      role: { id: 'viewer' },
      status: 'suspended',
      version: before.data!.version + 1,
    });
    const actions = await auditActions(org);
    expect(actions.slice(0, 2).sort()).toEqual(['member.role_changed', 'member.status_changed']);
  });

  test('rule 12: when one part is refused neither applies (making the owner suspended)', async () => {
    const org = await createOrg(ctx);
    const member = await addActor(ctx, org, 'member');
    const { error } = await org.owner.client.PATCH(memberPath, {
      params: { path: { orgId: org.orgId, userId: member.userId } },
      body: { roleId: 'owner', status: 'suspended' },
    });
    expect(error!.code).toBe('OWNER_REQUIRED');
    expect(await roleOf(org, member.userId)).toBe('member');
    expect(await roleOf(org, org.owner.userId)).toBe('owner');
  });

  test('rule 4: the owner cannot be suspended', async () => {
    const org = await createOrg(ctx);
    const { error, response } = await org.owner.client.PATCH(memberPath, {
      params: { path: { orgId: org.orgId, userId: org.owner.userId } },
      body: { status: 'suspended' },
    });
    expect(response.status).toBe(409);
    expect(error!.code).toBe('OWNER_REQUIRED');
  });

  test('rules 4 and 12: an admin cannot suspend the owner (409 OWNER_REQUIRED)', async () => {
    const org = await createOrg(ctx);
    const admin = await addActor(ctx, org, 'admin');
    const { error, response } = await admin.client.PATCH(memberPath, {
      params: { path: { orgId: org.orgId, userId: org.owner.userId } },
      body: { status: 'suspended' },
    });
    expect(response.status).toBe(409);
    expect(error!.code).toBe('OWNER_REQUIRED');
  });

  test('rule 8: a suspended member is refused with 403 MEMBER_SUSPENDED; reactivated, their key works again', async () => {
    const org = await createOrg(ctx);
    const member = await addActor(ctx, org, 'member');
    await org.owner.client.PATCH(memberPath, {
      params: { path: { orgId: org.orgId, userId: member.userId } },
      body: { status: 'suspended' },
    });
    const refused = await member.client.GET('/v1/organizations/{orgId}/me', {
      params: { path: { orgId: org.orgId } },
    });
    expect(refused.response.status).toBe(403);
    expect(refused.error!.code).toBe('MEMBER_SUSPENDED');
    await org.owner.client.PATCH(memberPath, {
      params: { path: { orgId: org.orgId, userId: member.userId } },
      body: { status: 'active' },
    });
    const again = await member.client.GET('/v1/organizations/{orgId}/me', {
      params: { path: { orgId: org.orgId } },
    });
    expect(again.data!.userId).toBe(member.userId);
  });

  test('an empty patch is 400 VALIDATION_FAILED, saying to send a field', async () => {
    const org = await createOrg(ctx);
    const member = await addActor(ctx, org, 'member');
    const { error } = await org.owner.client.PATCH(memberPath, {
      params: { path: { orgId: org.orgId, userId: member.userId } },
      body: {} as never,
    });
    expect(error!.code).toBe('VALIDATION_FAILED');
    expect(error!.detail).toBe('Send at least one field to change.');
  });
});

describe('addMember', () => {
  test('rule 13: nobody joins as owner (400 VALIDATION_FAILED)', async () => {
    const org = await createOrg(ctx);
    const { error, response } = await org.owner.client.POST('/v1/organizations/{orgId}/members', {
      params: { path: { orgId: org.orgId } },
      body: { userId: 'usr_new', email: 'new@example.test', roleId: 'owner' },
    });
    expect(response.status).toBe(400);
    expect(error!.code).toBe('VALIDATION_FAILED');
    // The answer names the rule and the way round it, not the schema's "must NOT be valid".
    expect(error!.detail).toMatch(/Nobody joins as owner \(rule 13\).*transfer ownership/s);
    expect(error!.errors).toEqual([{ location: 'body', path: '/roleId', message: error!.detail }]);
    const missing = await org.owner.client.GET(memberPath, {
      params: { path: { orgId: org.orgId, userId: 'usr_new' } },
    });
    expect(missing.response.status).toBe(404);
  });

  test("rule 13: without roleId the organization's default role (member) applies", async () => {
    const org = await createOrg(ctx);
    const { data, response } = await org.owner.client.POST('/v1/organizations/{orgId}/members', {
      params: { path: { orgId: org.orgId } },
      body: { userId: 'usr_default', email: 'default@example.test', name: 'Dee' },
    });
    expect(response.status).toBe(201);
    expect(response.headers.get('location')).toBe(
      `/v1/organizations/${org.orgId}/members/usr_default`,
    );
    expect(data).toMatchObject({
      userId: 'usr_default',
      user: { id: 'usr_default', email: 'default@example.test', name: 'Dee', imageUrl: null },
      role: { id: 'member' },
      status: 'active',
      teams: [],
      version: 1,
    });
  });

  test('adding an existing member is 409 MEMBER_EXISTS', async () => {
    const org = await createOrg(ctx);
    const { error, response } = await org.owner.client.POST('/v1/organizations/{orgId}/members', {
      params: { path: { orgId: org.orgId } },
      body: { userId: org.owner.userId, email: 'again@example.test' },
    });
    expect(response.status).toBe(409);
    expect(error!.code).toBe('MEMBER_EXISTS');
  });

  test('rule 2: an admin cannot add a member with a role holding billing:manage; rule 1 kin: without members:invite nobody adds', async () => {
    const org = await createOrg(ctx);
    const billing = await org.owner.client.POST('/v1/organizations/{orgId}/roles', {
      params: { path: { orgId: org.orgId } },
      body: { name: 'Billing', permissions: ['org:read', 'billing:manage'] },
    });
    const admin = await addActor(ctx, org, 'admin');
    const ceiling = await admin.client.POST('/v1/organizations/{orgId}/members', {
      params: { path: { orgId: org.orgId } },
      body: { userId: 'usr_billing', email: 'billing@example.test', roleId: billing.data!.id },
    });
    expect(ceiling.response.status).toBe(403);
    expect(ceiling.error!.code).toBe('PRIVILEGE_CEILING');
    const member = await addActor(ctx, org, 'member');
    const { error } = await member.client.POST('/v1/organizations/{orgId}/members', {
      params: { path: { orgId: org.orgId } },
      body: { userId: 'usr_x', email: 'x@example.test' },
    });
    expect(error!.code).toBe('INSUFFICIENT_PERMISSION');
  });

  test('unknown body properties are rejected (nothing is mass-assigned)', async () => {
    const org = await createOrg(ctx);
    const { error } = await org.owner.client.POST('/v1/organizations/{orgId}/members', {
      params: { path: { orgId: org.orgId } },
      body: { userId: 'usr_y', email: 'y@example.test', status: 'active' } as never,
    });
    expect(error!.code).toBe('VALIDATION_FAILED');
  });
});

describe('removeMember', () => {
  test('rule 4: the owner cannot be removed, not even by themself (409 OWNER_REQUIRED)', async () => {
    const org = await createOrg(ctx);
    const { error, response } = await org.owner.client.DELETE(memberPath, {
      params: { path: { orgId: org.orgId, userId: org.owner.userId } },
    });
    expect(response.status).toBe(409);
    expect(error!.code).toBe('OWNER_REQUIRED');
  });

  test('rule 12: a member may remove themself (leave) without members:remove', async () => {
    const org = await createOrg(ctx);
    const viewer = await addActor(ctx, org, 'viewer');
    const { response } = await viewer.client.DELETE(memberPath, {
      params: { path: { orgId: org.orgId, userId: viewer.userId } },
    });
    expect(response.status).toBe(204);
    expect(
      (
        await org.owner.client.GET(memberPath, {
          params: { path: { orgId: org.orgId, userId: viewer.userId } },
        })
      ).response.status,
    ).toBe(404);
  });

  test('rule 8: removing a member revokes their keys: the next request is 401', async () => {
    const org = await createOrg(ctx);
    const member = await addActor(ctx, org, 'member');
    await org.owner.client.DELETE(memberPath, {
      params: { path: { orgId: org.orgId, userId: member.userId } },
    });
    const { response, error } = await member.client.GET('/v1/organizations/{orgId}/me', {
      params: { path: { orgId: org.orgId } },
    });
    expect(response.status).toBe(401);
    expect(error!.code).toBe('UNAUTHENTICATED');
    expect(response.headers.get('www-authenticate')).toMatch(/Bearer/);
  });

  test('a stale If-Match on removal is 412 and the member stays', async () => {
    const org = await createOrg(ctx);
    const member = await addActor(ctx, org, 'member');
    const stale = await org.owner.client.DELETE(memberPath, {
      params: { path: { orgId: org.orgId, userId: member.userId }, header: { 'If-Match': '"9"' } },
    });
    expect(stale.response.status).toBe(412);
    expect(await roleOf(org, member.userId)).toBe('member');
    const current = await org.owner.client.DELETE(memberPath, {
      params: { path: { orgId: org.orgId, userId: member.userId }, header: { 'If-Match': '"1"' } },
    });
    expect(current.response.status).toBe(204);
  });

  test('rule 12: an actor can only remove a member whose role they fully hold; nobody removes the owner', async () => {
    const org = await createOrg(ctx);
    const billing = await org.owner.client.POST('/v1/organizations/{orgId}/roles', {
      params: { path: { orgId: org.orgId } },
      body: { name: 'Billing', permissions: ['org:read', 'billing:manage'] },
    });
    const accountant = await addActor(ctx, org, billing.data!.id);
    const admin = await addActor(ctx, org, 'admin');
    const other = await addActor(ctx, org, 'admin');
    const remove = (userId: string) =>
      admin.client.DELETE(memberPath, { params: { path: { orgId: org.orgId, userId } } });
    expect((await remove(accountant.userId)).error!.code).toBe('PRIVILEGE_CEILING');
    expect((await remove(org.owner.userId)).error!.code).toBe('OWNER_REQUIRED');
    expect((await remove(other.userId)).response.status).toBe(204);
    const actions = await auditActions(org);
    expect(actions[0]).toBe('member.removed');
    expect(actions.filter((a) => a === 'member.removed')).toHaveLength(1);
  });
});
