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

const rolesPath = '/v1/organizations/{orgId}/roles' as const;
const rolePath = '/v1/organizations/{orgId}/roles/{roleId}' as const;

async function createRole(org: TestOrg, name: string, permissions: string[], isDefault?: boolean) {
  const { data, error, response } = await org.owner.client.POST(rolesPath, {
    params: { path: { orgId: org.orgId } },
    body: {
      name,
      permissions: permissions as never,
      ...(isDefault !== undefined ? { isDefault } : {}),
    },
  });
  if (!data) throw new Error(`createRole failed (${response.status}): ${JSON.stringify(error)}`);
  return data;
}

describe('createRole (rule 9)', () => {
  test('the owner creates a custom role; it is listed after the built-in ones and audited', async () => {
    const org = await createOrg(ctx);
    const role = await createRole(org, 'Support', ['org:read', 'members:read']);
    expect(role).toMatchObject({
      name: 'Support',
      builtIn: false,
      isDefault: false,
      memberCount: 0,
      version: 1,
    });
    expect(role.id).toMatch(/^role_[0-9A-HJKMNP-TV-Z]{26}$/);
    const list = await org.owner.client.GET(rolesPath, { params: { path: { orgId: org.orgId } } });
    expect(list.data!.data.map((r) => r.id)).toEqual([
      'owner',
      'admin',
      'member',
      'viewer',
      role.id,
    ]);
    expect((await auditActions(org))[0]).toBe('role.created');
  });

  test('an admin cannot create a role holding billing:manage (403 PRIVILEGE_CEILING)', async () => {
    const org = await createOrg(ctx);
    const admin = await addActor(ctx, org, 'admin');
    const { error, response } = await admin.client.POST(rolesPath, {
      params: { path: { orgId: org.orgId } },
      body: { name: 'Billing', permissions: ['billing:manage'] },
    });
    expect(response.status).toBe(403);
    expect(error!.code).toBe('PRIVILEGE_CEILING');
  });

  test('a member without roles:manage cannot create roles', async () => {
    const org = await createOrg(ctx);
    const member = await addActor(ctx, org, 'member');
    const { error } = await member.client.POST(rolesPath, {
      params: { path: { orgId: org.orgId } },
      body: { name: 'Readers', permissions: ['org:read'] },
    });
    expect(error!.code).toBe('INSUFFICIENT_PERMISSION');
  });

  test('a name taken by another role of the organization, in any case, is 409 ROLE_NAME_TAKEN', async () => {
    const org = await createOrg(ctx);
    await createRole(org, 'Support', ['org:read']);
    for (const name of ['ADMIN', 'support']) {
      const { error, response } = await org.owner.client.POST(rolesPath, {
        params: { path: { orgId: org.orgId } },
        body: { name, permissions: ['org:read'] },
      });
      expect(response.status).toBe(409);
      expect(error!.code).toBe('ROLE_NAME_TAKEN');
    }
  });

  test('moving the default writes an event for the role that gave it up, and each role steps one version', async () => {
    const org = await createOrg(ctx);
    const role = await createRole(org, 'Newcomer', ['org:read']);
    const made = await org.owner.client.PATCH(rolePath, {
      params: { path: { orgId: org.orgId, roleId: role.id } },
      body: { isDefault: true },
    });
    expect(made.data).toMatchObject({ isDefault: true, version: role.version + 1 });
    const member = await org.owner.client.GET(rolePath, {
      params: { path: { orgId: org.orgId, roleId: 'member' } },
    });
    expect(member.data).toMatchObject({ isDefault: false, version: 2 });
    const events = await org.owner.client.GET('/v1/organizations/{orgId}/audit-events', {
      params: { path: { orgId: org.orgId }, query: { action: 'role.updated' } },
    });
    expect(events.data!.data.map((e) => [e.targetId, e.before, e.after])).toEqual(
      expect.arrayContaining([
        [role.id, { isDefault: false }, { isDefault: true }],
        ['member', { isDefault: true }, { isDefault: false }],
      ]),
    );
    expect(events.data!.data).toHaveLength(2);
  });

  test('rule 2 covers the default role too: an admin cannot add a member into a default role beyond them', async () => {
    const org = await createOrg(ctx);
    await createRole(org, 'Billing by default', ['org:read', 'billing:manage'], true);
    const admin = await addActor(ctx, org, 'admin');
    const { error, response } = await admin.client.POST('/v1/organizations/{orgId}/members', {
      params: { path: { orgId: org.orgId } },
      body: { userId: 'usr_defaulted', email: 'defaulted@example.test' },
    });
    expect(response.status).toBe(403);
    expect(error!.code).toBe('PRIVILEGE_CEILING');
  });

  test("isDefault: addMember without roleId uses the organization's default role", async () => {
    const org = await createOrg(ctx);
    const role = await createRole(org, 'Newcomer', ['org:read'], true);
    const added = await org.owner.client.POST('/v1/organizations/{orgId}/members', {
      params: { path: { orgId: org.orgId } },
      body: { userId: 'usr_new', email: 'new@example.test' },
    });
    expect(added.data!.role.id).toBe(role.id);
    const member = await org.owner.client.GET(rolePath, {
      params: { path: { orgId: org.orgId, roleId: 'member' } },
    });
    expect(member.data!.isDefault).toBe(false);
  });
});

describe('updateRole (rule 9)', () => {
  test('built-in roles are read-only (409 BUILT_IN_ROLE)', async () => {
    const org = await createOrg(ctx);
    const patch = await org.owner.client.PATCH(rolePath, {
      params: { path: { orgId: org.orgId, roleId: 'admin' } },
      body: { name: 'Administrator' },
    });
    expect(patch.response.status).toBe(409);
    expect(patch.error!.code).toBe('BUILT_IN_ROLE');
    const del = await org.owner.client.DELETE(rolePath, {
      params: { path: { orgId: org.orgId, roleId: 'viewer' } },
    });
    expect(del.error!.code).toBe('BUILT_IN_ROLE');
  });

  test('an admin cannot edit a custom role they hold to give themselves more', async () => {
    const org = await createOrg(ctx);
    const lead = await createRole(org, 'Role manager', [
      'org:read',
      'members:read',
      'roles:read',
      'roles:manage',
    ]);
    const holder = await addActor(ctx, org, lead.id);
    const { error, response } = await holder.client.PATCH(rolePath, {
      params: { path: { orgId: org.orgId, roleId: lead.id } },
      body: {
        permissions: ['org:read', 'members:read', 'roles:read', 'roles:manage', 'members:manage'],
      },
    });
    expect(response.status).toBe(403);
    expect(error!.code).toBe('PRIVILEGE_CEILING');
    const after = await org.owner.client.GET(rolePath, {
      params: { path: { orgId: org.orgId, roleId: lead.id } },
    });
    expect(after.data!.permissions).not.toContain('members:manage');
  });

  test("editing a role's permissions takes effect on its holders' very next request", async () => {
    const org = await createOrg(ctx);
    const role = await createRole(org, 'Reader', ['org:read', 'members:read']);
    const holder = await addActor(ctx, org, role.id);
    const list = () =>
      holder.client.GET('/v1/organizations/{orgId}/members', {
        params: { path: { orgId: org.orgId } },
      });
    expect((await list()).response.status).toBe(200);
    const before = await org.owner.client.GET(rolePath, {
      params: { path: { orgId: org.orgId, roleId: role.id } },
    });
    const edited = await org.owner.client.PATCH(rolePath, {
      params: { path: { orgId: org.orgId, roleId: role.id } },
      body: { permissions: ['org:read'] },
    });
    expect(edited.data!.version).toBe(before.data!.version + 1);
    expect((await list()).error!.code).toBe('INSUFFICIENT_PERMISSION');
  });

  test('a stale If-Match is 412 and changes nothing', async () => {
    const org = await createOrg(ctx);
    const role = await createRole(org, 'Reader', ['org:read']);
    const { error } = await org.owner.client.PATCH(rolePath, {
      params: { path: { orgId: org.orgId, roleId: role.id }, header: { 'If-Match': '"99"' } },
      body: { name: 'Renamed' },
    });
    expect(error!.code).toBe('PRECONDITION_FAILED');
    const after = await org.owner.client.GET(rolePath, {
      params: { path: { orgId: org.orgId, roleId: role.id } },
    });
    expect(after.data!.name).toBe('Reader');
  });
});

describe('ETags follow every change of a representation', () => {
  test("a holder's ETag changes when their role's permissions change; a role's when its member count does", async () => {
    const org = await createOrg(ctx);
    const role = await createRole(org, 'Reader', ['org:read', 'members:read']);
    const etagOf = async (path: string) =>
      (
        await fetch(`${ctx.url}${path}`, { headers: { Authorization: `Bearer ${org.owner.key}` } })
      ).headers.get('etag');
    const rolePathOf = `/v1/organizations/${org.orgId}/roles/${role.id}`;
    const roleBefore = await etagOf(rolePathOf);
    const holder = await addActor(ctx, org, role.id);
    const roleAfterJoin = await etagOf(rolePathOf);
    expect(roleAfterJoin).not.toBe(roleBefore);
    const memberPathOf = `/v1/organizations/${org.orgId}/members/${holder.userId}`;
    const memberBefore = await etagOf(memberPathOf);
    await org.owner.client.PATCH(rolePath, {
      params: { path: { orgId: org.orgId, roleId: role.id } },
      body: { permissions: ['org:read'] },
    });
    expect(await etagOf(memberPathOf)).not.toBe(memberBefore);
    await org.owner.client.DELETE('/v1/organizations/{orgId}/members/{userId}', {
      params: { path: { orgId: org.orgId, userId: holder.userId } },
    });
    const roleAfterLeave = await etagOf(rolePathOf);
    expect(roleAfterLeave).not.toBe(roleAfterJoin);
  });
});

describe('deleteRole (rule 9)', () => {
  test('a role members still hold cannot be deleted (409 ROLE_IN_USE)', async () => {
    const org = await createOrg(ctx);
    const role = await createRole(org, 'Reader', ['org:read']);
    await addActor(ctx, org, role.id);
    const { error, response } = await org.owner.client.DELETE(rolePath, {
      params: { path: { orgId: org.orgId, roleId: role.id } },
    });
    expect(response.status).toBe(409);
    expect(error!.code).toBe('ROLE_IN_USE');
  });

  test('a role pending invitations offer cannot be deleted (409 ROLE_IN_USE); a revoked invitation offers nothing', async () => {
    const org = await createOrg(ctx);
    const role = await createRole(org, 'Reader', ['org:read']);
    const invited = await org.owner.client.POST('/v1/organizations/{orgId}/invitations', {
      params: { path: { orgId: org.orgId } },
      body: { email: 'reader@example.test', roleId: role.id },
    });
    const deleted = () =>
      org.owner.client.DELETE(rolePath, {
        params: { path: { orgId: org.orgId, roleId: role.id } },
      });
    const refused = await deleted();
    expect(refused.response.status).toBe(409);
    expect(refused.error).toMatchObject({
      code: 'ROLE_IN_USE',
      detail: '1 pending invitation(s) offer this role: pass ?reassignTo= to move them first.',
    });
    await org.owner.client.DELETE('/v1/organizations/{orgId}/invitations/{invitationId}', {
      params: { path: { orgId: org.orgId, invitationId: invited.data!.id } },
    });
    expect((await deleted()).response.status).toBe(204);
  });

  test('reassigning on delete moves pending invitations too: they offer the new role, in a new version, and accepting one joins with it', async () => {
    const org = await createOrg(ctx);
    const role = await createRole(org, 'Reader', ['org:read']);
    await addActor(ctx, org, role.id);
    const invited = await org.owner.client.POST('/v1/organizations/{orgId}/invitations', {
      params: { path: { orgId: org.orgId } },
      body: { email: 'reader@example.test', roleId: role.id },
    });
    const refused = await org.owner.client.DELETE(rolePath, {
      params: { path: { orgId: org.orgId, roleId: role.id } },
    });
    expect(refused.error!.detail).toBe(
      '1 member(s) hold this role and 1 pending invitation(s) offer it: pass ?reassignTo= to move them first.',
    );
    const { response } = await org.owner.client.DELETE(rolePath, {
      params: { path: { orgId: org.orgId, roleId: role.id }, query: { reassignTo: 'viewer' } },
    });
    expect(response.status).toBe(204);
    const invitationId = invited.data!.id;
    const { data: invitation } = await org.owner.client.GET(
      '/v1/organizations/{orgId}/invitations/{invitationId}',
      { params: { path: { orgId: org.orgId, invitationId } } },
    );
    expect(invitation).toMatchObject({
      status: 'pending',
      role: { id: 'viewer' },
      version: invited.data!.version + 1,
    });
    const accepted = await ctx.platform.POST('/v1/invitations/accept', {
      body: { token: invited.data!.token, userId: 'usr_reader', email: 'reader@example.test' },
    });
    expect(accepted.response.status).toBe(200);
    expect(await roleOf(org, 'usr_reader')).toBe('viewer');
  });

  test('reassigning on delete moves every holder and writes one event each', async () => {
    const org = await createOrg(ctx);
    const role = await createRole(org, 'Reader', ['org:read']);
    const holders = [
      await addActor(ctx, org, role.id),
      await addActor(ctx, org, role.id),
      await addActor(ctx, org, role.id),
    ];
    const before = (await auditActions(org)).length;
    const { response } = await org.owner.client.DELETE(rolePath, {
      params: { path: { orgId: org.orgId, roleId: role.id }, query: { reassignTo: 'viewer' } },
    });
    expect(response.status).toBe(204);
    for (const holder of holders) expect(await roleOf(org, holder.userId)).toBe('viewer');
    const actions = await auditActions(org);
    expect(actions.length - before).toBe(4);
    expect(actions.slice(0, 4).sort()).toEqual([
      'member.role_changed',
      'member.role_changed',
      'member.role_changed',
      'role.deleted',
    ]);
    const gone = await org.owner.client.GET(rolePath, {
      params: { path: { orgId: org.orgId, roleId: role.id } },
    });
    expect(gone.response.status).toBe(404);
  });

  test('rule 2 applies to reassignTo: an admin cannot move holders to owner-only permissions', async () => {
    const org = await createOrg(ctx);
    const billing = await createRole(org, 'Billing', ['billing:manage']);
    const role = await createRole(org, 'Reader', ['org:read']);
    await addActor(ctx, org, role.id);
    const admin = await addActor(ctx, org, 'admin');
    const { error } = await admin.client.DELETE(rolePath, {
      params: { path: { orgId: org.orgId, roleId: role.id }, query: { reassignTo: billing.id } },
    });
    expect(error!.code).toBe('PRIVILEGE_CEILING');
    const toOwner = await org.owner.client.DELETE(rolePath, {
      params: { path: { orgId: org.orgId, roleId: role.id }, query: { reassignTo: 'owner' } },
    });
    expect(toOwner.error!.code).toBe('VALIDATION_FAILED');
  });

  test('deleting the default role hands the default back to the built-in member role', async () => {
    const org = await createOrg(ctx);
    const role = await createRole(org, 'Newcomer', ['org:read'], true);
    const deleted = await org.owner.client.DELETE(rolePath, {
      params: { path: { orgId: org.orgId, roleId: role.id } },
    });
    expect(deleted.response.status).toBe(204);
    const member = await org.owner.client.GET(rolePath, {
      params: { path: { orgId: org.orgId, roleId: 'member' } },
    });
    expect(member.data!.isDefault).toBe(true);
  });
});

describe('the audit trail (rule 11)', () => {
  test('nothing writes an audit event when the request fails', async () => {
    const org = await createOrg(ctx);
    const admin = await addActor(ctx, org, 'admin');
    const member = await addActor(ctx, org, 'member');
    const before = await auditActions(org);
    const failures = [
      admin.client.POST(rolesPath, {
        params: { path: { orgId: org.orgId } },
        body: { name: 'B', permissions: ['billing:manage'] },
      }),
      admin.client.PUT('/v1/organizations/{orgId}/members/{userId}/role', {
        params: { path: { orgId: org.orgId, userId: org.owner.userId } },
        body: { roleId: 'viewer' },
      }),
      member.client.DELETE('/v1/organizations/{orgId}/members/{userId}', {
        params: { path: { orgId: org.orgId, userId: admin.userId } },
      }),
      org.owner.client.PATCH('/v1/organizations/{orgId}/members/{userId}', {
        params: { path: { orgId: org.orgId, userId: member.userId } },
        body: { roleId: 'owner', status: 'suspended' },
      }),
      org.owner.client.PATCH(rolePath, {
        params: { path: { orgId: org.orgId, roleId: 'admin' } },
        body: { name: 'X' },
      }),
    ];
    for (const result of await Promise.all(failures))
      expect(result.response.status).toBeGreaterThanOrEqual(400);
    expect(await auditActions(org)).toEqual(before);
  });
});
