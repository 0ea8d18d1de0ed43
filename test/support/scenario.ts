import { randomBytes } from 'node:crypto';
import type { MemberRolesClient } from '../../client/index.js';
import type { TestContext } from './context.js';

export interface TestActor {
  userId: string;
  key: string;
  client: MemberRolesClient;
}

export interface TestOrg {
  orgId: string;
  owner: TestActor;
}

const unique = () => randomBytes(4).toString('hex');

/** A new organization (through the platform key) whose owner has a client. */
export async function createOrg(
  ctx: TestContext,
  ownerUserId = `auth0|${unique()}${unique()}`,
): Promise<TestOrg> {
  const { data, error } = await ctx.platform.POST('/v1/organizations', {
    body: {
      name: 'Test organization',
      slug: `org-${unique()}`,
      owner: { userId: ownerUserId, email: 'owner@example.test', name: 'Owner' },
    },
  });
  if (!data) throw new Error(`createOrganization failed: ${JSON.stringify(error)}`);
  return {
    orgId: data.organization.id,
    owner: { userId: ownerUserId, key: data.apiKey.secret, client: ctx.client(data.apiKey.secret) },
  };
}

/** Adds a member with the role given (as the owner) and mints them a key (as the platform). */
export async function addActor(
  ctx: TestContext,
  org: TestOrg,
  roleId: string,
  userId = `usr_${unique()}`,
): Promise<TestActor> {
  const added = await org.owner.client.POST('/v1/organizations/{orgId}/members', {
    params: { path: { orgId: org.orgId } },
    body: { userId, email: `${unique()}@example.test`, roleId },
  });
  if (added.error) throw new Error(`addMember failed: ${JSON.stringify(added.error)}`);
  return { userId, ...(await mintKey(ctx, org.orgId, userId)) };
}

export async function mintKey(
  ctx: TestContext,
  orgId: string,
  userId: string,
): Promise<{ key: string; client: MemberRolesClient }> {
  const { data, error } = await ctx.platform.POST(
    '/v1/organizations/{orgId}/members/{userId}/api-keys',
    { params: { path: { orgId, userId } }, body: { name: 'test key' } },
  );
  if (!data) throw new Error(`createApiKey failed: ${JSON.stringify(error)}`);
  return { key: data.secret, client: ctx.client(data.secret) };
}

export async function roleOf(org: TestOrg, userId: string): Promise<string | undefined> {
  const { data } = await org.owner.client.GET('/v1/organizations/{orgId}/members/{userId}', {
    params: { path: { orgId: org.orgId, userId } },
  });
  return data?.role.id;
}

export async function auditActions(org: TestOrg): Promise<string[]> {
  const { data } = await org.owner.client.GET('/v1/organizations/{orgId}/audit-events', {
    params: { path: { orgId: org.orgId }, query: { limit: 100 } },
  });
  return (data?.data ?? []).map((event) => event.action);
}
