import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { startTestService, testClock, type TestContext } from './support/context.js';
import { addActor, auditActions, createOrg, type TestOrg } from './support/scenario.js';

const DAY = 24 * 60 * 60 * 1000;
const clock = testClock();
let ctx: TestContext;
beforeAll(async () => {
  ctx = await startTestService({}, undefined, { clock });
});
afterAll(async () => {
  await ctx.stop();
});

const invitationsPath = '/v1/organizations/{orgId}/invitations' as const;
const invitationPath = '/v1/organizations/{orgId}/invitations/{invitationId}' as const;
let n = 0;
const email = () => `invitee${(n += 1)}@example.test`;
const newUser = () => `usr_invitee_${(n += 1)}`;

async function invite(
  org: TestOrg,
  body: {
    email: string;
    roleId?: string;
    teams?: { teamId: string; role: 'lead' | 'member' }[];
    expiresInDays?: number;
  },
  client = org.owner.client,
) {
  return client.POST(invitationsPath, { params: { path: { orgId: org.orgId } }, body });
}

async function accept(token: string, userId: string, address: string) {
  return ctx.platform.POST('/v1/invitations/accept', {
    body: { token, userId, email: address, name: 'Invitee' },
  });
}

async function getInvitation(org: TestOrg, invitationId: string) {
  return org.owner.client.GET(invitationPath, {
    params: { path: { orgId: org.orgId, invitationId } },
  });
}

async function organization(org: TestOrg) {
  const { data } = await org.owner.client.GET('/v1/organizations/{orgId}', {
    params: { path: { orgId: org.orgId } },
  });
  return data!;
}

describe('createInvitation', () => {
  test('answers the token once (mri_…), stores only its hash, and writes invitation.created', async () => {
    const org = await createOrg(ctx);
    const address = email();
    const { data, response } = await invite(org, { email: address, roleId: 'viewer' });
    expect(response.status).toBe(201);
    expect(data!.token).toMatch(/^mri_[A-Za-z0-9_-]{43}$/);
    expect(data).toMatchObject({
      email: address,
      role: { id: 'viewer' },
      status: 'pending',
      invitedBy: org.owner.userId,
      respondedAt: null,
      version: 1,
    });
    expect(new Date(data!.expiresAt).getTime() - new Date(data!.createdAt).getTime()).toBe(7 * DAY);
    const read = await getInvitation(org, data!.id);
    expect(read.data).not.toHaveProperty('token');
    expect(JSON.stringify(read.data)).not.toContain(data!.token);
    expect(await auditActions(org)).toContain('invitation.created');
    expect(await organization(org)).toMatchObject({ memberCount: 1, pendingInvitationCount: 1 });
  });

  test('a second pending invitation for the same email, in another case, is 409 INVITATION_EXISTS', async () => {
    const org = await createOrg(ctx);
    const address = email();
    await invite(org, { email: address });
    const { error, response } = await invite(org, { email: address.toUpperCase() });
    expect(response.status).toBe(409);
    expect(error!.code).toBe('INVITATION_EXISTS');
  });

  test('rule 13: inviting as owner is 400 VALIDATION_FAILED', async () => {
    const org = await createOrg(ctx);
    const { error, response } = await invite(org, { email: email(), roleId: 'owner' });
    expect(response.status).toBe(400);
    expect(error!.code).toBe('VALIDATION_FAILED');
  });

  test('rule 2: an admin cannot invite with a role holding billing:manage (403 PRIVILEGE_CEILING)', async () => {
    const org = await createOrg(ctx);
    const admin = await addActor(ctx, org, 'admin');
    const role = await org.owner.client.POST('/v1/organizations/{orgId}/roles', {
      params: { path: { orgId: org.orgId } },
      body: { name: 'Billing', permissions: ['org:read', 'billing:manage'] },
    });
    const { error, response } = await invite(
      org,
      { email: email(), roleId: role.data!.id },
      admin.client,
    );
    expect(response.status).toBe(403);
    expect(error!.code).toBe('PRIVILEGE_CEILING');
  });

  test('without members:invite the answer is 403 INSUFFICIENT_PERMISSION', async () => {
    const org = await createOrg(ctx);
    const member = await addActor(ctx, org, 'member');
    const { error, response } = await invite(org, { email: email() }, member.client);
    expect(response.status).toBe(403);
    expect(error!.code).toBe('INSUFFICIENT_PERMISSION');
  });
});

describe('acceptInvitation', () => {
  test('creates the membership and its team memberships in one transaction, with invitation.accepted and member.added', async () => {
    const org = await createOrg(ctx);
    const team = await org.owner.client.POST('/v1/organizations/{orgId}/teams', {
      params: { path: { orgId: org.orgId } },
      body: { name: 'Platform' },
    });
    const address = email();
    const created = await invite(org, {
      email: address,
      roleId: 'viewer',
      teams: [{ teamId: team.data!.id, role: 'lead' }],
    });
    const userId = newUser();
    const { data, response } = await accept(created.data!.token, userId, address.toUpperCase());
    expect(response.status).toBe(200);
    expect(data!.invitation).toMatchObject({ status: 'accepted', version: 2 });
    expect(data!.invitation.respondedAt).not.toBeNull();
    expect(data!.member).toMatchObject({
      userId,
      role: { id: 'viewer' },
      status: 'active',
      teams: [{ id: team.data!.id, name: 'Platform', role: 'lead' }],
    });
    const actions = await auditActions(org);
    expect(actions).toEqual(
      expect.arrayContaining(['invitation.accepted', 'member.added', 'team_member.added']),
    );
    expect(await organization(org)).toMatchObject({ memberCount: 2, pendingInvitationCount: 0 });
    // The token is used up.
    const again = await accept(created.data!.token, newUser(), address);
    expect(again.response.status).toBe(409);
    expect(again.error!.code).toBe('INVITATION_NOT_PENDING');
  });

  test('another email than the invitation’s is 403 INVITATION_EMAIL_MISMATCH and nothing changes', async () => {
    const org = await createOrg(ctx);
    const created = await invite(org, { email: email() });
    const { error, response } = await accept(created.data!.token, newUser(), 'someone@else.test');
    expect(response.status).toBe(403);
    expect(error!.code).toBe('INVITATION_EMAIL_MISMATCH');
    expect((await getInvitation(org, created.data!.id)).data!.status).toBe('pending');
  });

  test('an unknown token is 404; a member’s key may not accept (403)', async () => {
    const org = await createOrg(ctx);
    const created = await invite(org, { email: email() });
    const unknown = await accept(`mri_${'A'.repeat(43)}`, newUser(), 'x@example.test');
    expect(unknown.response.status).toBe(404);
    const byMember = await org.owner.client.POST('/v1/invitations/accept', {
      body: { token: created.data!.token, userId: newUser(), email: created.data!.email },
    });
    expect(byMember.response.status).toBe(403);
    expect(byMember.error!.code).toBe('INSUFFICIENT_PERMISSION');
  });

  test('rule 2 again at acceptance: an inviter who lost the right makes it 409 INVITATION_INVALIDATED', async () => {
    const org = await createOrg(ctx);
    const admin = await addActor(ctx, org, 'admin');
    const address = email();
    const created = await invite(org, { email: address, roleId: 'admin' }, admin.client);
    expect(created.response.status).toBe(201);
    await org.owner.client.PUT('/v1/organizations/{orgId}/members/{userId}/role', {
      params: { path: { orgId: org.orgId, userId: admin.userId } },
      body: { roleId: 'viewer' },
    });
    const { error, response } = await accept(created.data!.token, newUser(), address);
    expect(response.status).toBe(409);
    expect(error!.code).toBe('INVITATION_INVALIDATED');
  });

  test('a user already a member is 409 MEMBER_EXISTS', async () => {
    const org = await createOrg(ctx);
    const address = email();
    const created = await invite(org, { email: address });
    const { error, response } = await accept(created.data!.token, org.owner.userId, address);
    expect(response.status).toBe(409);
    expect(error!.code).toBe('MEMBER_EXISTS');
  });
});

describe('expiry (an injected clock, no sleeping)', () => {
  test('an expired invitation is 410 INVITATION_EXPIRED, shows expired in lists and frees its seat', async () => {
    const org = await createOrg(ctx);
    const address = email();
    const created = await invite(org, { email: address, expiresInDays: 1 });
    clock.advance(DAY + 1000);
    const accepted = await accept(created.data!.token, newUser(), address);
    expect(accepted.response.status).toBe(410);
    expect(accepted.error!.code).toBe('INVITATION_EXPIRED');
    const declined = await ctx.platform.POST('/v1/invitations/decline', {
      body: { token: created.data!.token },
    });
    expect(declined.response.status).toBe(410);
    const revoked = await org.owner.client.DELETE(invitationPath, {
      params: { path: { orgId: org.orgId, invitationId: created.data!.id } },
    });
    expect(revoked.response.status).toBe(410);
    const list = await org.owner.client.GET(invitationsPath, {
      params: { path: { orgId: org.orgId } },
    });
    expect(list.data!.data.map((i) => i.status)).toEqual(['expired']);
    const expiredOnly = await org.owner.client.GET(invitationsPath, {
      params: { path: { orgId: org.orgId }, query: { status: 'expired' } },
    });
    expect(expiredOnly.data!.data).toHaveLength(1);
    const pendingOnly = await org.owner.client.GET(invitationsPath, {
      params: { path: { orgId: org.orgId }, query: { status: 'pending' } },
    });
    expect(pendingOnly.data!.data).toHaveLength(0);
    expect(await organization(org)).toMatchObject({ pendingInvitationCount: 0 });
    // A new invitation for the same email is allowed once the old one expired.
    const again = await invite(org, { email: address });
    expect(again.response.status).toBe(201);
  });

  test('resend mints a new token and expiry, kills the old token, and revives an expired invitation', async () => {
    const org = await createOrg(ctx);
    const address = email();
    const created = await invite(org, { email: address, expiresInDays: 2 });
    clock.advance(3 * DAY);
    const resent = await org.owner.client.POST(
      '/v1/organizations/{orgId}/invitations/{invitationId}/resend',
      { params: { path: { orgId: org.orgId, invitationId: created.data!.id } } },
    );
    expect(resent.response.status).toBe(200);
    expect(resent.data!.token).not.toBe(created.data!.token);
    expect(resent.data!.status).toBe('pending');
    expect(new Date(resent.data!.expiresAt).getTime()).toBe(clock.now().getTime() + 2 * DAY);
    const old = await accept(created.data!.token, newUser(), address);
    expect(old.response.status).toBe(404);
    const fresh = await accept(resent.data!.token, newUser(), address);
    expect(fresh.response.status).toBe(200);
    expect(await auditActions(org)).toContain('invitation.resent');
    const resendAccepted = await org.owner.client.POST(
      '/v1/organizations/{orgId}/invitations/{invitationId}/resend',
      { params: { path: { orgId: org.orgId, invitationId: created.data!.id } } },
    );
    expect(resendAccepted.response.status).toBe(409);
    expect(resendAccepted.error!.code).toBe('INVITATION_NOT_PENDING');
  });
});

describe('revokeInvitation and declineInvitation', () => {
  test('revoke: the token dies, the seat is free, invitation.revoked; a second revoke is 409 INVITATION_NOT_PENDING', async () => {
    const org = await createOrg(ctx);
    const address = email();
    const created = await invite(org, { email: address });
    const revoked = await org.owner.client.DELETE(invitationPath, {
      params: { path: { orgId: org.orgId, invitationId: created.data!.id } },
    });
    expect(revoked.response.status).toBe(204);
    expect((await getInvitation(org, created.data!.id)).data!.status).toBe('revoked');
    expect((await accept(created.data!.token, newUser(), address)).error!.code).toBe(
      'INVITATION_NOT_PENDING',
    );
    const again = await org.owner.client.DELETE(invitationPath, {
      params: { path: { orgId: org.orgId, invitationId: created.data!.id } },
    });
    expect(again.response.status).toBe(409);
    expect(again.error!.code).toBe('INVITATION_NOT_PENDING');
    expect(await auditActions(org)).toContain('invitation.revoked');
  });

  test('decline: declined, invitation.declined, then accepting is 409 INVITATION_NOT_PENDING', async () => {
    const org = await createOrg(ctx);
    const address = email();
    const created = await invite(org, { email: address });
    const declined = await ctx.platform.POST('/v1/invitations/decline', {
      body: { token: created.data!.token },
    });
    expect(declined.response.status).toBe(200);
    expect(declined.data!.status).toBe('declined');
    expect((await accept(created.data!.token, newUser(), address)).error!.code).toBe(
      'INVITATION_NOT_PENDING',
    );
    expect(await auditActions(org)).toContain('invitation.declined');
  });

  test('another organization’s invitation is 404, like one that does not exist', async () => {
    const org = await createOrg(ctx);
    const other = await createOrg(ctx);
    const created = await invite(org, { email: email() });
    const { response } = await other.owner.client.GET(invitationPath, {
      params: { path: { orgId: other.orgId, invitationId: created.data!.id } },
    });
    expect(response.status).toBe(404);
  });
});

describe('seats (maxMembers)', () => {
  test('only billing:manage sets maxMembers: an admin gets 403, the owner 200', async () => {
    const org = await createOrg(ctx);
    const admin = await addActor(ctx, org, 'admin');
    const refused = await admin.client.PATCH('/v1/organizations/{orgId}', {
      params: { path: { orgId: org.orgId } },
      body: { maxMembers: 5 },
    });
    expect(refused.response.status).toBe(403);
    const { data } = await org.owner.client.PATCH('/v1/organizations/{orgId}', {
      params: { path: { orgId: org.orgId } },
      body: { maxMembers: 5 },
    });
    expect(data).toMatchObject({ maxMembers: 5, memberCount: 2, pendingInvitationCount: 0 });
  });

  test('members plus pending invitations never exceed maxMembers: addMember and createInvitation are 409 SEAT_LIMIT_REACHED', async () => {
    const org = await createOrg(ctx);
    await org.owner.client.PATCH('/v1/organizations/{orgId}', {
      params: { path: { orgId: org.orgId } },
      body: { maxMembers: 3 },
    });
    await addActor(ctx, org, 'member');
    const address = email();
    const pending = await invite(org, { email: address });
    expect(pending.response.status).toBe(201);
    const added = await org.owner.client.POST('/v1/organizations/{orgId}/members', {
      params: { path: { orgId: org.orgId } },
      body: { userId: newUser(), email: email() },
    });
    expect(added.response.status).toBe(409);
    expect(added.error!.code).toBe('SEAT_LIMIT_REACHED');
    const invited = await invite(org, { email: email() });
    expect(invited.error!.code).toBe('SEAT_LIMIT_REACHED');
    // Accepting uses the seat the invitation holds.
    expect((await accept(pending.data!.token, newUser(), address)).response.status).toBe(200);
    expect(await organization(org)).toMatchObject({ memberCount: 3, pendingInvitationCount: 0 });
  });

  test('acceptInvitation after maxMembers was lowered below the seats in use is 409 SEAT_LIMIT_REACHED', async () => {
    const org = await createOrg(ctx);
    const address = email();
    const pending = await invite(org, { email: address });
    await addActor(ctx, org, 'member');
    await org.owner.client.PATCH('/v1/organizations/{orgId}', {
      params: { path: { orgId: org.orgId } },
      body: { maxMembers: 2 },
    });
    const { error } = await accept(pending.data!.token, newUser(), address);
    expect(error!.code).toBe('SEAT_LIMIT_REACHED');
  });
});
