import type { DomainDeps, RequestContext } from './domain/context.js';
import { addMember, changeMember } from './domain/members.service.js';
import { createOrganization } from './domain/organizations.service.js';
import { hashSecret } from './infra/secrets.js';

export interface DemoCredentials {
  organizationId: string;
  ownerUserId: string;
  ownerKey: string;
}

/** A small organization to try the API on: one member of each built-in role, one suspended. */
export async function seedDemo(deps: DomainDeps): Promise<DemoCredentials> {
  const platform: RequestContext = { credential: { kind: 'platform' }, requestId: 'demo-seed' };
  const created = await createOrganization(deps, platform, {
    name: 'Acme Robotics',
    slug: 'acme',
    owner: {
      userId: 'auth0|654a2f4d1b3c4e9a8d2f3c1b',
      email: 'alice@acme.test',
      name: 'Alice Owner',
    },
  });
  const orgId = created.organization.id;
  const owner: RequestContext = {
    credential: { kind: 'key', secretHash: hashSecret(created.apiKey.secret) },
    requestId: 'demo-seed',
  };
  const people = [
    {
      userId: 'samlp|acme|bob@acme.test',
      email: 'bob@acme.test',
      name: 'Bob Admin',
      roleId: 'admin',
    },
    { userId: 'usr_carol', email: 'carol@acme.test', name: 'Carol Member', roleId: 'member' },
    { userId: '42', email: 'dave@acme.test', name: 'Dave Viewer', roleId: 'viewer' },
    {
      userId: 'google-oauth2|1098',
      email: 'erin@acme.test',
      name: 'Erin Suspended',
      roleId: 'member',
    },
  ];
  for (const person of people) await addMember(deps, owner, orgId, person);
  await changeMember(deps, owner, orgId, 'google-oauth2|1098', { status: 'suspended' });
  return {
    organizationId: orgId,
    ownerUserId: created.owner.userId,
    ownerKey: created.apiKey.secret,
  };
}
