import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { SignJWT } from 'jose';
import type { MemberRolesClient } from '../client/index.js';
import { onPostgres, startTestService, type TestContext } from './support/context.js';
import {
  AUDIENCE,
  ISSUER,
  TestIdentityProvider,
  unsignedToken,
} from './support/identity-provider.js';
import { addActor, createOrg, roleOf, type TestOrg } from './support/scenario.js';
import { statementLog } from './support/statement-log.js';

// A product plugs in: its own permissions, its users acting by access token or through its
// backend (the platform key on their behalf), their organizations.
const { logger, statementsOf } = statementLog();

let idp: TestIdentityProvider;
let ctx: TestContext;
const client = (credential?: string) => ctx.client(credential);

beforeAll(async () => {
  idp = await new TestIdentityProvider().start();
  ctx = await startTestService(
    {
      jwt: {
        jwksUrl: idp.url,
        issuer: ISSUER,
        audience: AUDIENCE,
        userClaim: 'sub',
        cooldownMs: 50,
      },
    },
    logger,
  );
});
afterAll(async () => {
  await ctx.stop();
  await idp.stop();
});

const memberPath = '/v1/organizations/{orgId}/members/{userId}' as const;
const engine = onPostgres ? 'PostgreSQL' : 'PGlite';

/** A user with a token, added to the organization with the role given. */
async function tokenUser(
  org: TestOrg,
  roleId: string,
  userId = `auth0|${Math.random()}`.replace('.', ''),
) {
  const added = await org.owner.client.POST('/v1/organizations/{orgId}/members', {
    params: { path: { orgId: org.orgId } },
    body: { userId, email: `${userId.replace(/\W/g, '')}@example.test`, roleId },
  });
  expect(added.response.status).toBe(201);
  return { userId, client: client(await idp.token(userId)) };
}

describe(`access tokens of the product's identity provider (${engine})`, () => {
  test("a valid token acts with the user's current role, in one database statement", async () => {
    const org = await createOrg(ctx);
    const user = await tokenUser(org, 'viewer');
    const read = await user.client.GET(memberPath, {
      params: {
        path: { orgId: org.orgId, userId: org.owner.userId },
        header: { 'X-Request-Id': 'jwt-get-member' },
      },
    });
    expect(read.response.status).toBe(200);
    expect(await statementsOf('jwt-get-member')).toBe(1);
    const denied = await user.client.PUT(`${memberPath}/role`, {
      params: { path: { orgId: org.orgId, userId: user.userId } },
      body: { roleId: 'member' },
    });
    expect(denied.error?.code).toBe('INSUFFICIENT_PERMISSION');
    await org.owner.client.PUT(`${memberPath}/role`, {
      params: { path: { orgId: org.orgId, userId: user.userId } },
      body: { roleId: 'admin' },
    });
    const me = await user.client.GET('/v1/organizations/{orgId}/me', {
      params: { path: { orgId: org.orgId } },
    });
    expect(me.data!.role.id).toBe('admin');
  });

  test('every refusal is 401 UNAUTHENTICATED with a WWW-Authenticate that says why', async () => {
    const org = await createOrg(ctx);
    const user = await tokenUser(org, 'member');
    const other = new TestIdentityProvider();
    const stranger = await other.addKey('RS256');
    const hmac = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256', kid: idp.current.kid })
      .setSubject(user.userId)
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setExpirationTime('1m')
      .sign(new TextEncoder().encode(JSON.stringify(idp.current.publicJwk)));
    const cases: [string, string, RegExp][] = [
      [
        'expired',
        await idp.token(user.userId, { expiresIn: Math.floor(Date.now() / 1000) - 60 }),
        /expired/,
      ],
      ['not yet valid', await idp.token(user.userId, { notBefore: '10m' }), /not valid yet/],
      ['wrong issuer', await idp.token(user.userId, { issuer: 'https://evil.test/' }), /issuer/],
      ['wrong audience', await idp.token(user.userId, { audience: 'another-api' }), /audience/],
      [
        'bad signature',
        await idp.token(user.userId, { key: stranger, kid: idp.current.kid }),
        /signature/,
      ],
      ['alg none', unsignedToken(user.userId, idp.current.kid), /algorithm/],
      ['HMAC with the public key', hmac, /algorithm/],
      [
        'unknown kid',
        await idp.token(user.userId, { key: stranger }),
        /key the identity provider does not publish/,
      ],
    ];
    for (const [name, token, reason] of cases) {
      const { response, error } = await client(token).GET('/v1/organizations/{orgId}/me', {
        params: { path: { orgId: org.orgId } },
      });
      expect([name, response.status, error?.code]).toEqual([name, 401, 'UNAUTHENTICATED']);
      const header = response.headers.get('www-authenticate') ?? '';
      expect(header).toMatch(/^Bearer realm="member-roles", error="invalid_token"/);
      expect([name, header]).toEqual([name, expect.stringMatching(reason)]);
      expect(error!.detail).toMatch(reason);
    }
  });

  test('a rotated key (new kid) is fetched and accepted without a restart', async () => {
    const org = await createOrg(ctx);
    const user = await tokenUser(org, 'member');
    await idp.addKey('ES256');
    await new Promise((resolve) => setTimeout(resolve, 100)); // past the refetch cooldown
    const fetchesBefore = idp.fetches;
    const { response } = await client(await idp.token(user.userId)).GET(
      '/v1/organizations/{orgId}/me',
      { params: { path: { orgId: org.orgId } } },
    );
    expect(response.status).toBe(200);
    expect(idp.fetches).toBe(fetchesBefore + 1);
  });

  test("a suspended user's valid token is 403 MEMBER_SUSPENDED; a non-member's is 404", async () => {
    const org = await createOrg(ctx);
    const user = await tokenUser(org, 'member');
    await org.owner.client.PATCH(memberPath, {
      params: { path: { orgId: org.orgId, userId: user.userId } },
      body: { status: 'suspended' },
    });
    const suspended = await user.client.GET('/v1/organizations/{orgId}/me', {
      params: { path: { orgId: org.orgId } },
    });
    expect(suspended.error?.code).toBe('MEMBER_SUSPENDED');
    const outsider = client(await idp.token('usr_outsider'));
    const { response } = await outsider.GET('/v1/organizations/{orgId}/members', {
      params: { path: { orgId: org.orgId } },
    });
    expect(response.status).toBe(404);
  });
});

describe(`acting on behalf of a member with the platform key (${engine})`, () => {
  test('On-Behalf-Of obeys the member’s rules and the audit trail shows who and via what', async () => {
    const org = await createOrg(ctx);
    const admin = await addActor(ctx, org, 'admin');
    const member = await addActor(ctx, org, 'member');
    const asAdmin = { 'On-Behalf-Of': admin.userId };
    const changed = await ctx.platform.PUT(`${memberPath}/role`, {
      params: { path: { orgId: org.orgId, userId: member.userId }, header: asAdmin },
      body: { roleId: 'viewer' },
    });
    expect(changed.response.status).toBe(200);
    // An admin, even through the platform, cannot make anyone owner.
    const owner = await ctx.platform.PUT(`${memberPath}/role`, {
      params: { path: { orgId: org.orgId, userId: member.userId }, header: asAdmin },
      body: { roleId: 'owner' },
    });
    expect(owner.error?.code).toBe('PRIVILEGE_CEILING');
    expect(await roleOf(org, member.userId)).toBe('viewer');
    const events = await org.owner.client.GET('/v1/organizations/{orgId}/audit-events', {
      params: { path: { orgId: org.orgId }, query: { action: 'member.role_changed' } },
    });
    expect(events.data!.data[0]!.actor).toEqual({
      type: 'member',
      userId: admin.userId,
      apiKeyId: null,
      via: 'platform',
    });
  });

  test('On-Behalf-Of with any other credential is 403 ON_BEHALF_OF_NOT_ALLOWED', async () => {
    const org = await createOrg(ctx);
    const admin = await addActor(ctx, org, 'admin');
    const { error } = await admin.client.GET('/v1/organizations/{orgId}/members', {
      params: { path: { orgId: org.orgId }, header: { 'On-Behalf-Of': org.owner.userId } },
    });
    expect(error?.code).toBe('ON_BEHALF_OF_NOT_ALLOWED');
  });

  test('on behalf of someone who is not a member is 404, like any stranger', async () => {
    const org = await createOrg(ctx);
    const { response } = await ctx.platform.PUT(`${memberPath}/role`, {
      params: {
        path: { orgId: org.orgId, userId: org.owner.userId },
        header: { 'On-Behalf-Of': 'usr_nobody' },
      },
      body: { roleId: 'admin' },
    });
    expect(response.status).toBe(404);
  });
});

describe(`product permissions (${engine})`, () => {
  test('a permission included in member is held by members on their next request; role versions step', async () => {
    const org = await createOrg(ctx);
    const member = await addActor(ctx, org, 'member');
    const roleBefore = await org.owner.client.GET('/v1/organizations/{orgId}/roles/{roleId}', {
      params: { path: { orgId: org.orgId, roleId: 'member' } },
    });
    const id = `projects${Math.floor(Math.random() * 1e9)}:write`;
    const created = await ctx.platform.PUT('/v1/permissions/{permissionId}', {
      params: { path: { permissionId: id } },
      body: { description: 'Create and change projects.', includedIn: ['member'] },
    });
    expect(created.response.status).toBe(201);
    expect(created.data).toEqual({
      id,
      description: 'Create and change projects.',
      kind: 'product',
      includedIn: ['member'],
    });
    const me = await member.client.GET('/v1/organizations/{orgId}/me', {
      params: { path: { orgId: org.orgId } },
    });
    expect(me.data!.role.permissions).toContain(id);
    const roleAfter = await org.owner.client.GET('/v1/organizations/{orgId}/roles/{roleId}', {
      params: { path: { orgId: org.orgId, roleId: 'member' } },
    });
    expect(roleAfter.data!.version).toBeGreaterThan(roleBefore.data!.version);
    expect(roleAfter.data!.permissions).toContain(id);
    const list = await member.client.GET('/v1/permissions');
    expect(list.data!.data.find((p) => p.id === id)).toMatchObject({ kind: 'product' });
    expect(list.data!.data.find((p) => p.id === 'members:read')).toMatchObject({
      kind: 'service',
      includedIn: ['admin', 'member', 'viewer'],
    });
    // Taken out again: the next request no longer holds it.
    const updated = await ctx.platform.PUT('/v1/permissions/{permissionId}', {
      params: { path: { permissionId: id } },
      body: { description: 'Create and change projects.', includedIn: [] },
    });
    expect(updated.response.status).toBe(200);
    const again = await member.client.GET('/v1/organizations/{orgId}/me', {
      params: { path: { orgId: org.orgId } },
    });
    expect(again.data!.role.permissions).not.toContain(id);
  });

  test('an admin whose role lacks a product permission cannot grant it (403 PRIVILEGE_CEILING)', async () => {
    const org = await createOrg(ctx);
    const admin = await addActor(ctx, org, 'admin');
    const id = `billing${Math.floor(Math.random() * 1e9)}:export`;
    await ctx.platform.PUT('/v1/permissions/{permissionId}', {
      params: { path: { permissionId: id } },
      body: { description: 'Export invoices.' },
    });
    const refused = await admin.client.POST('/v1/organizations/{orgId}/roles', {
      params: { path: { orgId: org.orgId } },
      body: { name: 'Exporter', permissions: ['org:read', id] },
    });
    expect(refused.error?.code).toBe('PRIVILEGE_CEILING');
    // The owner holds every permission and can.
    const role = await org.owner.client.POST('/v1/organizations/{orgId}/roles', {
      params: { path: { orgId: org.orgId } },
      body: { name: 'Exporter', permissions: ['org:read', id] },
    });
    expect(role.response.status).toBe(201);
    const member = await addActor(ctx, org, 'member');
    const granted = await admin.client.PUT(`${memberPath}/role`, {
      params: { path: { orgId: org.orgId, userId: member.userId } },
      body: { roleId: role.data!.id },
    });
    expect(granted.error?.code).toBe('PRIVILEGE_CEILING');
    // A custom role holds it: it cannot be deleted.
    const deleted = await ctx.platform.DELETE('/v1/permissions/{permissionId}', {
      params: { path: { permissionId: id } },
    });
    expect(deleted.response.status).toBe(409);
    expect(deleted.error?.code).toBe('PERMISSION_IN_USE');
    await org.owner.client.DELETE('/v1/organizations/{orgId}/roles/{roleId}', {
      params: { path: { orgId: org.orgId, roleId: role.data!.id } },
    });
    const gone = await ctx.platform.DELETE('/v1/permissions/{permissionId}', {
      params: { path: { permissionId: id } },
    });
    expect(gone.response.status).toBe(204);
  });

  test("the catalogue is the platform key's: service permissions are fixed, unknown ones refused", async () => {
    const org = await createOrg(ctx);
    const fixed = await ctx.platform.PUT('/v1/permissions/{permissionId}', {
      params: { path: { permissionId: 'members:manage' } },
      body: { description: 'Mine now.' },
    });
    expect(fixed.error?.code).toBe('BUILT_IN_PERMISSION');
    const byOwner = await org.owner.client.PUT('/v1/permissions/{permissionId}', {
      params: { path: { permissionId: 'projects:read' } },
      body: { description: 'Read projects.' },
    });
    expect(byOwner.error?.code).toBe('INSUFFICIENT_PERMISSION');
    const unknown = await org.owner.client.POST('/v1/organizations/{orgId}/roles', {
      params: { path: { orgId: org.orgId } },
      body: { name: 'Ghost', permissions: ['ghosts:haunt'] },
    });
    expect(unknown.error?.code).toBe('VALIDATION_FAILED');
  });
});

describe(`organizations as a whole (${engine})`, () => {
  test("a user's memberships: for the platform key or that user's own token", async () => {
    const userId = `auth0|switcher${Math.floor(Math.random() * 1e9)}`;
    const first = await createOrg(ctx, userId);
    const second = await createOrg(ctx);
    await tokenUser(second, 'viewer', userId);
    const byPlatform = await ctx.platform.GET('/v1/users/{userId}/memberships', {
      params: { path: { userId }, query: { limit: 1 } },
    });
    expect(byPlatform.data!.data).toHaveLength(1);
    expect(byPlatform.data!.nextCursor).not.toBeNull();
    const own: MemberRolesClient = client(await idp.token(userId));
    const byToken = await own.GET('/v1/users/{userId}/memberships', {
      params: { path: { userId } },
    });
    expect(byToken.data!.data.map((m) => [m.organization.id, m.role.id]).sort()).toEqual(
      [
        [first.orgId, 'owner'],
        [second.orgId, 'viewer'],
      ].sort(),
    );
    const someoneElse = await client(await idp.token('usr_else')).GET(
      '/v1/users/{userId}/memberships',
      { params: { path: { userId } } },
    );
    expect(someoneElse.error?.code).toBe('INSUFFICIENT_PERMISSION');
    const byKey = await first.owner.client.GET('/v1/users/{userId}/memberships', {
      params: { path: { userId } },
    });
    expect(byKey.error?.code).toBe('INSUFFICIENT_PERMISSION');
  });

  test('listOrganizations: the platform key lists and searches every organization', async () => {
    const org = await createOrg(ctx);
    const slug = (
      await ctx.platform.GET('/v1/organizations/{orgId}', {
        params: { path: { orgId: org.orgId } },
      })
    ).data!.slug;
    const found = await ctx.platform.GET('/v1/organizations', { params: { query: { q: slug } } });
    expect(found.data!.data.map((o) => o.id)).toEqual([org.orgId]);
    const refused = await org.owner.client.GET('/v1/organizations');
    expect(refused.error?.code).toBe('INSUFFICIENT_PERMISSION');
  });

  test('deleteOrganization: only the owner, If-Match honoured, everything goes in one transaction', async () => {
    const org = await createOrg(ctx);
    const admin = await addActor(ctx, org, 'admin');
    const bystander = await createOrg(ctx);
    const byAdmin = await admin.client.DELETE('/v1/organizations/{orgId}', {
      params: { path: { orgId: org.orgId } },
    });
    expect(byAdmin.error?.code).toBe('INSUFFICIENT_PERMISSION');
    const read = await org.owner.client.GET('/v1/organizations/{orgId}', {
      params: { path: { orgId: org.orgId } },
    });
    const stale = await org.owner.client.DELETE('/v1/organizations/{orgId}', {
      params: {
        path: { orgId: org.orgId },
        header: { 'If-Match': `"${read.data!.version + 1}"` },
      },
    });
    expect(stale.response.status).toBe(412);
    const deleted = await ctx.platform.DELETE('/v1/organizations/{orgId}', {
      params: {
        path: { orgId: org.orgId },
        header: {
          'On-Behalf-Of': org.owner.userId,
          'If-Match': read.response.headers.get('etag')!,
        },
      },
    });
    expect(deleted.response.status).toBe(204);
    const after = await ctx.platform.GET('/v1/organizations/{orgId}', {
      params: { path: { orgId: org.orgId } },
    });
    expect(after.response.status).toBe(404);
    const db = ctx.service.database.db;
    for (const table of ['memberships', 'roles', 'api_keys', 'audit_events'] as const) {
      const rows = await db
        .selectFrom(table)
        .select('org_id')
        .where('org_id', '=', org.orgId)
        .execute();
      expect([table, rows.length]).toEqual([table, 0]);
    }
    const untouched = await bystander.owner.client.GET('/v1/organizations/{orgId}/audit-events', {
      params: { path: { orgId: bystander.orgId } },
    });
    expect(untouched.data!.data.length).toBeGreaterThan(0);
    // The audit trail stays append-only outside a deletion.
    await expect(
      db.deleteFrom('audit_events').where('org_id', '=', bystander.orgId).execute(),
    ).rejects.toThrow(/append-only/);
  });
});
