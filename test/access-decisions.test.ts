import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { components, MemberRolesClient } from '../client/index.js';
import { readConfig } from '../server/config.js';
import { decisionPointOf } from '../server/http/handlers.js';
import { onPostgres, startTestService, type TestContext } from './support/context.js';
import { AUDIENCE, ISSUER, TestIdentityProvider } from './support/identity-provider.js';
import { addActor, createOrg, mintKey, type TestActor, type TestOrg } from './support/scenario.js';

// The service as an AuthZEN decision point: permission decisions, previews of writes, batches,
// searches, effective permissions; who may ask, and what nobody may learn.

type Evaluation = components['schemas']['AccessEvaluation'];
type Decision = components['schemas']['AccessDecision'];
type Resource = components['schemas']['AccessResource'];

let ctx: TestContext;
let idp: TestIdentityProvider;
beforeAll(async () => {
  idp = await new TestIdentityProvider().start();
  ctx = await startTestService({
    jwt: { jwksUrl: idp.url, issuer: ISSUER, audience: AUDIENCE, userClaim: 'sub' },
  });
});
afterAll(async () => {
  await ctx.stop();
  await idp.stop();
});

const engine = onPostgres ? 'PostgreSQL' : 'PGlite';

/** One question; the answer must be 200 with a decision. */
async function ask(client: MemberRolesClient, question: Evaluation): Promise<Decision> {
  const { data, error, response } = await client.POST('/access/v1/evaluation', {
    body: question,
  });
  if (!data) throw new Error(`evaluateAccess: ${response.status} ${JSON.stringify(error)}`);
  return data;
}

const question = (subject: string, action: string, resource: Resource): Evaluation => ({
  subject: { type: 'user', id: subject },
  action: { name: action },
  resource,
});
const organization = (org: TestOrg | string): Resource => ({
  type: 'organization',
  id: typeof org === 'string' ? org : org.orgId,
});
const member = (orgId: string, userId: string, properties: Resource['properties'] = {}) =>
  ({
    type: 'member',
    id: userId,
    properties: { organizationId: orgId, ...properties },
  }) satisfies Resource;
const team = (teamId: string, properties: Resource['properties'] = {}): Resource => ({
  type: 'team',
  id: teamId,
  properties,
});

async function createTeam(org: TestOrg, name: string): Promise<string> {
  const { data } = await org.owner.client.POST('/v1/organizations/{orgId}/teams', {
    params: { path: { orgId: org.orgId } },
    body: { name },
  });
  return data!.id;
}

async function joinTeam(org: TestOrg, teamId: string, userId: string, role: 'lead' | 'member') {
  const { response } = await org.owner.client.PUT(
    '/v1/organizations/{orgId}/teams/{teamId}/members/{userId}',
    { params: { path: { orgId: org.orgId, teamId, userId } }, body: { role } },
  );
  expect(response.status).toBeLessThan(300);
}

async function changeMember(
  org: TestOrg,
  userId: string,
  body: { roleId?: string; status?: 'active' | 'suspended' },
) {
  const { response } = await org.owner.client.PATCH('/v1/organizations/{orgId}/members/{userId}', {
    params: { path: { orgId: org.orgId, userId } },
    body,
  });
  expect(response.status).toBe(200);
}

const permitted = { decision: true };
const refused = (code: string) => ({ decision: false, context: { code } });
const refusedWith = (code: string) =>
  expect.objectContaining({ decision: false, context: expect.objectContaining({ code }) });

describe(`evaluateAccess: permissions (${engine})`, () => {
  let org: TestOrg;
  let viewer: TestActor;
  let admin: TestActor;
  beforeAll(async () => {
    org = await createOrg(ctx);
    viewer = await addActor(ctx, org, 'viewer');
    admin = await addActor(ctx, org, 'admin');
  });

  test('an active member whose role holds the permission may; one whose role lacks it may not', async () => {
    expect(
      await ask(ctx.platform, question(admin.userId, 'members:invite', organization(org))),
    ).toEqual(permitted);
    const denied = await ask(
      ctx.platform,
      question(viewer.userId, 'members:invite', organization(org)),
    );
    expect(denied).toMatchObject(refused('INSUFFICIENT_PERMISSION'));
    expect(denied.context!.reason_admin.en).toMatch(/members:invite/);
  });

  test('only the owner holds billing:manage among the built-in roles', async () => {
    expect(
      await ask(ctx.platform, question(org.owner.userId, 'billing:manage', organization(org))),
    ).toEqual(permitted);
    expect(
      await ask(ctx.platform, question(admin.userId, 'billing:manage', organization(org))),
    ).toMatchObject(refused('INSUFFICIENT_PERMISSION'));
  });

  test("a product permission is decided from the catalogue like the service's own", async () => {
    const { response } = await ctx.platform.PUT('/v1/permissions/{permissionId}', {
      params: { path: { permissionId: 'reports:export' } },
      body: { description: 'Export reports.', includedIn: ['admin'] },
    });
    expect(response.status).toBeLessThan(300);
    expect(
      await ask(ctx.platform, question(admin.userId, 'reports:export', organization(org))),
    ).toEqual(permitted);
    expect(
      await ask(ctx.platform, question(viewer.userId, 'reports:export', organization(org))),
    ).toMatchObject(refused('INSUFFICIENT_PERMISSION'));
    // A permission nobody defined is held by nobody.
    expect(
      await ask(
        ctx.platform,
        question(org.owner.userId, 'reports:nobody_defined', organization(org)),
      ),
    ).toMatchObject(refused('INSUFFICIENT_PERMISSION'));
  });

  test("a team's lead holds teams:manage for that team only (rule 10); its members do not", async () => {
    const platformTeam = await createTeam(org, 'Platform');
    const otherTeam = await createTeam(org, 'Other');
    const lead = await addActor(ctx, org, 'member');
    const plain = await addActor(ctx, org, 'member');
    await joinTeam(org, platformTeam, lead.userId, 'lead');
    await joinTeam(org, platformTeam, plain.userId, 'member');
    expect(
      await ask(ctx.platform, question(lead.userId, 'teams:manage', team(platformTeam))),
    ).toEqual(permitted);
    expect(
      await ask(ctx.platform, question(lead.userId, 'teams:manage', team(otherTeam))),
    ).toMatchObject(refused('INSUFFICIENT_PERMISSION'));
    expect(
      await ask(ctx.platform, question(plain.userId, 'teams:manage', team(platformTeam))),
    ).toMatchObject(refused('INSUFFICIENT_PERMISSION'));
    // Leading a team grants nothing else, and nothing in the organization.
    expect(
      await ask(ctx.platform, question(lead.userId, 'teams:manage', organization(org))),
    ).toMatchObject(refused('INSUFFICIENT_PERMISSION'));
    expect(
      await ask(ctx.platform, question(lead.userId, 'teams:read', team(platformTeam))),
    ).toEqual(permitted);
  });

  test('a member resource must exist, and names its organization', async () => {
    expect(
      await ask(
        ctx.platform,
        question(admin.userId, 'members:read', member(org.orgId, viewer.userId)),
      ),
    ).toEqual(permitted);
    expect(
      await ask(
        ctx.platform,
        question(admin.userId, 'members:read', member(org.orgId, 'usr_nobody')),
      ),
    ).toMatchObject(refused('NOT_A_MEMBER'));
    const { response, error } = await ctx.platform.POST('/access/v1/evaluation', {
      body: question(admin.userId, 'members:read', { type: 'member', id: viewer.userId }),
    });
    expect(response.status).toBe(400);
    expect(error?.errors?.[0]?.path).toBe('/resource/properties/organizationId');
  });

  test('a suspended subject may do nothing (MEMBER_SUSPENDED), whatever their role', async () => {
    const suspended = await addActor(ctx, org, 'admin');
    await changeMember(org, suspended.userId, { status: 'suspended' });
    expect(
      await ask(ctx.platform, question(suspended.userId, 'org:read', organization(org))),
    ).toMatchObject(refused('MEMBER_SUSPENDED'));
  });

  test('a malformed question is 400 like everywhere else; an unauthenticated one 401', async () => {
    const bad = await ctx.platform.POST('/access/v1/evaluation', {
      body: { ...question(admin.userId, 'org:read', organization(org)), extra: 1 } as Evaluation,
    });
    expect(bad.response.status).toBe(400);
    expect(bad.error?.code).toBe('VALIDATION_FAILED');
    const anonymous = await ctx.client().POST('/access/v1/evaluation', {
      body: question(admin.userId, 'org:read', organization(org)),
    });
    expect(anonymous.response.status).toBe(401);
    expect(anonymous.response.headers.get('www-authenticate')).toMatch(/Bearer/);
    // Decisions are true only now: never cached.
    const { response } = await ctx.platform.POST('/access/v1/evaluation', {
      body: question(admin.userId, 'org:read', organization(org)),
    });
    expect(response.headers.get('cache-control')).toBe('no-store');
  });
});

describe(`decisions follow the data: the very next question sees every change (${engine})`, () => {
  test('a role change, a suspension, a reactivation and a removal change the very next decision', async () => {
    const org = await createOrg(ctx);
    const subject = await addActor(ctx, org, 'member');
    const q = question(subject.userId, 'members:manage', organization(org));
    expect(await ask(ctx.platform, q)).toMatchObject(refused('INSUFFICIENT_PERMISSION'));
    await changeMember(org, subject.userId, { roleId: 'admin' });
    expect(await ask(ctx.platform, q)).toEqual(permitted);
    await changeMember(org, subject.userId, { status: 'suspended' });
    expect(await ask(ctx.platform, q)).toMatchObject(refused('MEMBER_SUSPENDED'));
    await changeMember(org, subject.userId, { status: 'active' });
    expect(await ask(ctx.platform, q)).toEqual(permitted);
    const { response } = await org.owner.client.DELETE(
      '/v1/organizations/{orgId}/members/{userId}',
      {
        params: { path: { orgId: org.orgId, userId: subject.userId } },
      },
    );
    expect(response.status).toBe(204);
    expect(await ask(ctx.platform, q)).toMatchObject(refused('NOT_A_MEMBER'));
  });

  test("a revoked key is refused at its very next question, and a member's key asks with the member's current role", async () => {
    const org = await createOrg(ctx);
    const asker = await addActor(ctx, org, 'viewer');
    const other = await addActor(ctx, org, 'member');
    const aboutOther = question(other.userId, 'org:read', organization(org));
    expect(await ask(asker.client, aboutOther)).toEqual(permitted); // viewers hold members:read
    await changeMember(org, asker.userId, { roleId: (await noReadRole(org)).id });
    expect(await ask(asker.client, aboutOther)).toMatchObject(refused('INSUFFICIENT_PERMISSION'));
    const { data: keys } = await ctx.platform.GET(
      '/v1/organizations/{orgId}/members/{userId}/api-keys',
      { params: { path: { orgId: org.orgId, userId: asker.userId } } },
    );
    const revoked = await ctx.platform.DELETE(
      '/v1/organizations/{orgId}/members/{userId}/api-keys/{keyId}',
      { params: { path: { orgId: org.orgId, userId: asker.userId, keyId: keys!.data[0]!.id } } },
    );
    expect(revoked.response.status).toBe(204);
    const after = await asker.client.POST('/access/v1/evaluation', { body: aboutOther });
    expect(after.response.status).toBe(401);
    expect(after.error?.code).toBe('UNAUTHENTICATED');
  });
});

/** A custom role that reads the organization but not its members. */
async function noReadRole(org: TestOrg) {
  const { data } = await org.owner.client.POST('/v1/organizations/{orgId}/roles', {
    params: { path: { orgId: org.orgId } },
    body: { name: `Outsider ${Math.random()}`, permissions: ['org:read'] },
  });
  return data!;
}

describe(`who may ask, and what nobody learns (${engine})`, () => {
  let orgA: TestOrg;
  let orgB: TestOrg;
  let memberA: TestActor;
  let teamB: string;
  beforeAll(async () => {
    orgA = await createOrg(ctx);
    orgB = await createOrg(ctx);
    memberA = await addActor(ctx, orgA, 'admin');
    teamB = await createTeam(orgB, 'Secret team');
  });

  test('a member of organization A learns nothing about organization B: its resources read exactly like ones that do not exist', async () => {
    const missingOrg = 'org_01JD0000000000000000000000';
    const missingTeam = 'team_01JD0000000000000000000000';
    for (const subject of [memberA.userId, orgB.owner.userId]) {
      for (const action of ['org:read', 'teams:manage', 'member.remove']) {
        const pairs: [Resource, Resource][] = [
          [organization(orgB), organization(missingOrg)],
          [team(teamB), team(missingTeam)],
          [member(orgB.orgId, orgB.owner.userId), member(missingOrg, orgB.owner.userId)],
          [member(orgB.orgId, orgB.owner.userId), member(orgB.orgId, 'usr_nobody')],
        ];
        for (const [foreign, missing] of pairs) {
          if (action === 'member.remove' && foreign.type !== 'member') continue;
          const answers = await Promise.all(
            [foreign, missing].map((resource) =>
              memberA.client.POST('/access/v1/evaluation', {
                body: question(subject, action, resource),
              }),
            ),
          );
          const [a, b] = answers.map((x) => ({ status: x.response.status, body: x.data }));
          expect(a).toEqual(b);
          expect(a!.body).toMatchObject(refused('NOT_A_MEMBER'));
        }
      }
    }
  });

  test('a key asks about its own member always, and about other members only with members:read', async () => {
    const outsider = await addActor(ctx, orgA, (await noReadRole(orgA)).id);
    expect(
      await ask(outsider.client, question(outsider.userId, 'org:read', organization(orgA))),
    ).toEqual(permitted);
    expect(
      await ask(outsider.client, question(outsider.userId, 'members:read', organization(orgA))),
    ).toMatchObject(refused('INSUFFICIENT_PERMISSION'));
    const aboutOther = await ask(
      outsider.client,
      question(orgA.owner.userId, 'org:read', organization(orgA)),
    );
    expect(aboutOther).toMatchObject(refused('INSUFFICIENT_PERMISSION'));
    expect(aboutOther.context!.reason_admin.en).toMatch(/members:read/);
    expect(
      await ask(memberA.client, question(orgA.owner.userId, 'org:read', organization(orgA))),
    ).toEqual(permitted);
    // Nor may it learn who else is a member through a member resource: whether or not one exists.
    for (const other of [orgA.owner.userId, 'usr_nobody']) {
      expect(
        await ask(
          outsider.client,
          question(outsider.userId, 'org:read', member(orgA.orgId, other)),
        ),
      ).toMatchObject(refused('INSUFFICIENT_PERMISSION'));
    }
    expect(
      await ask(
        outsider.client,
        question(outsider.userId, 'org:read', member(orgA.orgId, outsider.userId)),
      ),
    ).toEqual(permitted);
  });

  test("a suspended member's key is refused altogether (403), like everywhere", async () => {
    const suspended = await addActor(ctx, orgA, 'member');
    await changeMember(orgA, suspended.userId, { status: 'suspended' });
    const { response, error } = await suspended.client.POST('/access/v1/evaluation', {
      body: question(suspended.userId, 'org:read', organization(orgA)),
    });
    expect(response.status).toBe(403);
    expect(error?.code).toBe('MEMBER_SUSPENDED');
  });

  test("a user's token asks in each organization they belong to; on-behalf-of asks as that user", async () => {
    const userId = `auth0|both-${Math.random()}`.replace('.', '');
    for (const org of [orgA, orgB]) {
      await org.owner.client.POST('/v1/organizations/{orgId}/members', {
        params: { path: { orgId: org.orgId } },
        body: { userId, email: 'both@example.test', roleId: 'member' },
      });
    }
    const third = await createOrg(ctx);
    const token = ctx.client(await idp.token(userId));
    for (const org of [orgA, orgB]) {
      expect(await ask(token, question(userId, 'org:read', organization(org)))).toEqual(permitted);
      expect(await ask(token, question(org.owner.userId, 'org:read', organization(org)))).toEqual(
        permitted,
      );
    }
    expect(await ask(token, question(userId, 'org:read', organization(third)))).toMatchObject(
      refused('NOT_A_MEMBER'),
    );
    expect(
      await ask(token, question(third.owner.userId, 'org:read', organization(third))),
    ).toMatchObject(refused('NOT_A_MEMBER'));
    const onBehalf = await ctx.platform.POST('/access/v1/evaluation', {
      params: { header: { 'On-Behalf-Of': userId } },
      body: question(third.owner.userId, 'org:read', organization(third)),
    });
    expect(onBehalf.data).toMatchObject(refused('NOT_A_MEMBER'));
    // The platform key itself asks about anyone.
    expect(
      await ask(ctx.platform, question(third.owner.userId, 'org:read', organization(third))),
    ).toEqual(permitted);
  });
});

describe(`previews: the write's own rules decide, and nothing changes (${engine})`, () => {
  let org: TestOrg;
  let admin: TestActor;
  let target: TestActor;
  beforeAll(async () => {
    org = await createOrg(ctx);
    admin = await addActor(ctx, org, 'admin');
    target = await addActor(ctx, org, 'member');
  });

  test('an admin may not make someone the owner: the decision carries the code and words of the write', async () => {
    const preview = await ask(
      ctx.platform,
      question(
        admin.userId,
        'member.set_role',
        member(org.orgId, target.userId, { roleId: 'owner' }),
      ),
    );
    const write = await admin.client.PUT('/v1/organizations/{orgId}/members/{userId}/role', {
      params: { path: { orgId: org.orgId, userId: target.userId } },
      body: { roleId: 'owner' },
    });
    expect(write.error?.code).toBe('PRIVILEGE_CEILING');
    expect(preview).toEqual({
      decision: false,
      context: { code: 'PRIVILEGE_CEILING', reason_admin: { en: write.error!.detail } },
    });
  });

  test('a permitted preview changes nothing: same version, no audit event', async () => {
    const before = await org.owner.client.GET('/v1/organizations/{orgId}/members/{userId}', {
      params: { path: { orgId: org.orgId, userId: target.userId } },
    });
    const events = async () =>
      (
        await org.owner.client.GET('/v1/organizations/{orgId}/audit-events', {
          params: { path: { orgId: org.orgId }, query: { limit: 100 } },
        })
      ).data!.data.length;
    const eventsBefore = await events();
    for (const [action, properties] of [
      ['member.set_role', { roleId: 'viewer' }],
      ['member.suspend', {}],
      ['member.remove', {}],
      ['ownership.transfer', {}],
    ] as const) {
      const subject = action === 'ownership.transfer' ? org.owner.userId : admin.userId;
      expect(
        await ask(
          ctx.platform,
          question(subject, action, member(org.orgId, target.userId, properties)),
        ),
      ).toEqual(permitted);
    }
    expect(
      await ask(ctx.platform, question(admin.userId, 'member.add', organization(org))),
    ).toEqual(permitted);
    const after = await org.owner.client.GET('/v1/organizations/{orgId}/members/{userId}', {
      params: { path: { orgId: org.orgId, userId: target.userId } },
    });
    expect(after.data).toEqual(before.data);
    expect(await events()).toBe(eventsBefore);
    const { data: owners } = await org.owner.client.GET('/v1/organizations/{orgId}/members', {
      params: { path: { orgId: org.orgId }, query: { role: 'owner' } },
    });
    expect(owners!.data.map((m) => m.userId)).toEqual([org.owner.userId]);
  });

  test('the owner cannot be suspended or removed (OWNER_REQUIRED); a member may leave; nobody joins twice', async () => {
    expect(
      await ask(
        ctx.platform,
        question(admin.userId, 'member.suspend', member(org.orgId, org.owner.userId)),
      ),
    ).toMatchObject(refused('OWNER_REQUIRED'));
    expect(
      await ask(
        ctx.platform,
        question(target.userId, 'member.remove', member(org.orgId, target.userId)),
      ),
    ).toEqual(permitted);
    expect(
      await ask(
        ctx.platform,
        question(admin.userId, 'member.add', {
          ...organization(org),
          properties: { userId: target.userId },
        }),
      ),
    ).toMatchObject(refused('MEMBER_EXISTS'));
    expect(
      await ask(
        ctx.platform,
        question(admin.userId, 'member.add', {
          ...organization(org),
          properties: { roleId: 'owner' },
        }),
      ),
    ).toMatchObject(refused('VALIDATION_FAILED'));
  });

  test("a team's lead may set team roles within their own team only", async () => {
    const mine = await createTeam(org, 'Mine');
    const theirs = await createTeam(org, 'Theirs');
    const lead = await addActor(ctx, org, 'member');
    await joinTeam(org, mine, lead.userId, 'lead');
    const props = { userId: target.userId, role: 'member' as const };
    expect(
      await ask(ctx.platform, question(lead.userId, 'team_member.set_role', team(mine, props))),
    ).toEqual(permitted);
    expect(
      await ask(ctx.platform, question(lead.userId, 'team_member.set_role', team(theirs, props))),
    ).toMatchObject(refused('INSUFFICIENT_PERMISSION'));
    expect(
      await ask(
        ctx.platform,
        question(
          lead.userId,
          'team_member.set_role',
          team(mine, { ...props, userId: 'usr_nobody' }),
        ),
      ),
    ).toMatchObject(refused('NOT_A_MEMBER'));
  });

  test('a preview without what its write needs, or on the wrong resource, is 400', async () => {
    for (const [body, path] of [
      [
        question(admin.userId, 'member.set_role', member(org.orgId, target.userId)),
        '/resource/properties/roleId',
      ],
      [question(admin.userId, 'member.remove', organization(org)), '/resource/type'],
      [
        question(admin.userId, 'team_member.set_role', team('team_01JD0000000000000000000000')),
        '/resource/properties/userId',
      ],
    ] as const) {
      const { response, error } = await ctx.platform.POST('/access/v1/evaluation', { body });
      expect(response.status).toBe(400);
      expect(error?.errors?.map((e) => e.path)).toContain(path);
    }
  });
});

describe(`evaluateAccessBatch (${engine})`, () => {
  let org: TestOrg;
  let viewer: TestActor;
  beforeAll(async () => {
    org = await createOrg(ctx);
    viewer = await addActor(ctx, org, 'viewer');
  });

  const batch = (
    semantic: 'execute_all' | 'deny_on_first_deny' | 'permit_on_first_permit' | undefined,
    actions: string[],
  ) =>
    ctx.platform.POST('/access/v1/evaluations', {
      body: {
        subject: { type: 'user', id: viewer.userId },
        resource: organization(org),
        evaluations: actions.map((name) => ({ action: { name } })),
        ...(semantic ? { options: { evaluations_semantic: semantic } } : {}),
      },
    });
  const decisionsOf = async (answer: ReturnType<typeof batch>) =>
    (await answer).data!.evaluations!.map((d) => d.decision);
  const actions = ['org:read', 'members:manage', 'members:read', 'billing:manage'];

  test('execute_all (the default) answers every question, in order', async () => {
    expect(await decisionsOf(batch(undefined, actions))).toEqual([true, false, true, false]);
    expect(await decisionsOf(batch('execute_all', actions))).toEqual([true, false, true, false]);
  });

  test('deny_on_first_deny stops after the first false; permit_on_first_permit after the first true', async () => {
    expect(await decisionsOf(batch('deny_on_first_deny', actions))).toEqual([true, false]);
    expect(await decisionsOf(batch('permit_on_first_permit', actions))).toEqual([true]);
    expect(await decisionsOf(batch('permit_on_first_permit', actions.slice(1)))).toEqual([
      false,
      true,
    ]);
    expect(
      await decisionsOf(batch('permit_on_first_permit', ['members:manage', 'billing:manage'])),
    ).toEqual([false, false]);
  });

  test("a question's own subject, action or resource replaces the default; previews and permissions mix", async () => {
    const { data } = await ctx.platform.POST('/access/v1/evaluations', {
      body: {
        subject: { type: 'user', id: viewer.userId },
        action: { name: 'members:read' },
        resource: organization(org),
        evaluations: [
          {},
          { subject: { type: 'user', id: org.owner.userId }, action: { name: 'billing:manage' } },
          { resource: organization('org_01JD0000000000000000000000') },
          {
            subject: { type: 'user', id: org.owner.userId },
            action: { name: 'member.suspend' },
            resource: member(org.orgId, viewer.userId),
          },
          { action: { name: 'member.remove' }, resource: member(org.orgId, org.owner.userId) },
          { subject: { type: 'user', id: 'usr_stranger' } },
          { subject: { type: 'user', id: org.owner.userId }, action: { name: 'org:read' } },
        ],
      },
    });
    expect(data!.evaluations).toEqual([
      permitted,
      permitted,
      refusedWith('NOT_A_MEMBER'),
      permitted,
      refusedWith('INSUFFICIENT_PERMISSION'),
      refusedWith('NOT_A_MEMBER'),
      permitted,
    ]);
  });

  test('without questions in evaluations, the top level is one question answered with one decision', async () => {
    const { data } = await ctx.platform.POST('/access/v1/evaluations', {
      body: {
        subject: { type: 'user', id: viewer.userId },
        action: { name: 'org:read' },
        resource: organization(org),
        evaluations: [],
      },
    });
    expect(data).toEqual(permitted);
  });

  test('a question without a subject after defaults is 400 naming it; more than 100 questions are 400', async () => {
    const missing = await ctx.platform.POST('/access/v1/evaluations', {
      body: { action: { name: 'org:read' }, evaluations: [{ resource: organization(org) }] },
    });
    expect(missing.response.status).toBe(400);
    expect(missing.error?.errors?.[0]?.path).toBe('/evaluations/0/subject');
    const tooMany = await ctx.platform.POST('/access/v1/evaluations', {
      body: {
        subject: { type: 'user', id: viewer.userId },
        action: { name: 'org:read' },
        evaluations: Array.from({ length: 101 }, () => ({ resource: organization(org) })),
      },
    });
    expect(tooMany.response.status).toBe(400);
  });

  test('100 questions are answered, each as it would be alone', async () => {
    const many = Array.from({ length: 100 }, (_, i) => ({
      action: { name: i % 2 === 0 ? 'org:read' : 'org:manage' },
    }));
    const { data } = await ctx.platform.POST('/access/v1/evaluations', {
      body: {
        subject: { type: 'user', id: viewer.userId },
        resource: organization(org),
        evaluations: many,
      },
    });
    expect(data!.evaluations!.map((d) => d.decision)).toEqual(many.map((_, i) => i % 2 === 0));
  });
});

describe(`searches (${engine})`, () => {
  let org: TestOrg;
  let readers: string[];
  beforeAll(async () => {
    org = await createOrg(ctx, 'auth0|owner');
    // User ids whose byte order differs from a case-insensitive or locale order.
    readers = ['Zed', 'alice', 'bob', 'Émile', '_x', 'a.b', 'a-b', 'B'].map((name) =>
      `usr_${name}`.replace('É', 'E2'),
    );
    for (const userId of readers) await addActor(ctx, org, 'viewer', userId);
    const suspended = await addActor(ctx, org, 'viewer', 'usr_suspended');
    await changeMember(org, suspended.userId, { status: 'suspended' });
    await addActor(ctx, org, (await noReadRole(org)).id, 'usr_noread');
  });

  const bytewise = (ids: string[]) =>
    [...ids].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));

  test('subject search pages through the active members holding the permission, in the member list order', async () => {
    const found: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const { data, error } = await ctx.platform.POST('/access/v1/search/subject', {
        body: {
          subject: { type: 'user' },
          action: { name: 'members:read' },
          resource: organization(org),
          page: { limit: 3, ...(token ? { token } : {}) },
        },
      });
      if (!data) throw new Error(JSON.stringify(error));
      expect(data.page.count).toBe(data.results.length);
      found.push(...data.results.map((r) => r.id));
      token = data.page.next_token || undefined;
      pages += 1;
    } while (token);
    const expected = bytewise([org.owner.userId, ...readers]);
    expect(found).toEqual(expected);
    expect(pages).toBe(Math.ceil(expected.length / 3));
    // The member list shows the same order.
    const { data: list } = await org.owner.client.GET('/v1/organizations/{orgId}/members', {
      params: { path: { orgId: org.orgId }, query: { limit: 100, status: 'active' } },
    });
    expect(list!.data.map((m) => m.userId).filter((id) => expected.includes(id))).toEqual(expected);
  });

  test('a page token continues only the request it came from', async () => {
    const body = {
      subject: { type: 'user' as const },
      action: { name: 'members:read' },
      resource: organization(org),
      page: { limit: 2 },
    };
    const first = await ctx.platform.POST('/access/v1/search/subject', { body });
    const token = first.data!.page.next_token;
    expect(token).not.toBe('');
    const changed = await ctx.platform.POST('/access/v1/search/subject', {
      body: { ...body, action: { name: 'org:read' }, page: { limit: 2, token } },
    });
    expect(changed.response.status).toBe(400);
    expect(changed.error?.errors?.[0]?.path).toBe('/page/token');
    const same = await ctx.platform.POST('/access/v1/search/subject', {
      body: { ...body, page: { limit: 2, token } },
    });
    expect(same.data!.results.map((r) => r.id)).toEqual(
      bytewise([org.owner.userId, ...readers]).slice(2, 4),
    );
  });

  test('without members:read a member finds at most themself; a stranger finds nobody', async () => {
    const noRead = await mintKey(ctx, org.orgId, 'usr_noread');
    const body = {
      subject: { type: 'user' as const },
      action: { name: 'org:read' },
      resource: organization(org),
    };
    const own = await noRead.client.POST('/access/v1/search/subject', { body });
    expect(own.data!.results).toEqual([{ type: 'user', id: 'usr_noread' }]);
    const stranger = await createOrg(ctx);
    const none = await stranger.owner.client.POST('/access/v1/search/subject', { body });
    expect(none.data).toEqual({ page: { next_token: '', count: 0 }, results: [] });
  });

  test('resource search finds the organizations and teams where the subject may act', async () => {
    const userId = 'usr_searcher';
    const other = await createOrg(ctx);
    const third = await createOrg(ctx);
    await addActor(ctx, org, 'admin', userId);
    await addActor(ctx, other, 'member', userId);
    await addActor(ctx, third, 'viewer', userId);
    const teamHere = await createTeam(org, 'Here');
    const teamLed = await createTeam(other, 'Led');
    await createTeam(other, 'Not led');
    await joinTeam(other, teamLed, userId, 'lead');
    const search = async (action: string, type: 'organization' | 'team', limit = 50) => {
      const ids: string[] = [];
      let token: string | undefined;
      do {
        const { data, error } = await ctx.platform.POST('/access/v1/search/resource', {
          body: {
            subject: { type: 'user', id: userId },
            action: { name: action },
            resource: { type },
            page: { limit, ...(token ? { token } : {}) },
          },
        });
        if (!data) throw new Error(JSON.stringify(error));
        ids.push(...data.results.map((r) => r.id));
        token = data.page.next_token || undefined;
      } while (token);
      return ids;
    };
    expect(await search('org:read', 'organization', 1)).toEqual(
      bytewise([org.orgId, other.orgId, third.orgId]),
    );
    expect(await search('members:invite', 'organization')).toEqual([org.orgId]);
    expect(await search('teams:manage', 'team')).toEqual(bytewise([teamHere, teamLed]));
    // A member's key finds only what its own organization allows it to see.
    const { data } = await third.owner.client.POST('/access/v1/search/resource', {
      body: {
        subject: { type: 'user', id: userId },
        action: { name: 'org:read' },
        resource: { type: 'organization' },
      },
    });
    expect(data!.results).toEqual([{ type: 'organization', id: third.orgId }]);
  });

  test('action search lists the permissions held and the bare previews that would succeed', async () => {
    const admin = await addActor(ctx, org, 'admin');
    const { data } = await ctx.platform.POST('/access/v1/search/action', {
      body: {
        subject: { type: 'user', id: admin.userId },
        resource: member(org.orgId, 'usr_alice'),
      },
    });
    const names = data!.results.map((r) => r.name);
    expect(names).toEqual(
      expect.arrayContaining(['members:manage', 'member.suspend', 'member.remove']),
    );
    expect(names).not.toContain('ownership.transfer');
    expect(names).not.toContain('billing:manage');
    expect(names).toEqual([...names].sort());
    const aboutOwner = await ctx.platform.POST('/access/v1/search/action', {
      body: {
        subject: { type: 'user', id: admin.userId },
        resource: member(org.orgId, org.owner.userId),
      },
    });
    const ownerNames = aboutOwner.data!.results.map((r) => r.name);
    expect(ownerNames).not.toContain('member.suspend');
    expect(ownerNames).not.toContain('member.remove');
    // Paged by name like the others.
    const paged = await ctx.platform.POST('/access/v1/search/action', {
      body: {
        subject: { type: 'user', id: admin.userId },
        resource: member(org.orgId, 'usr_alice'),
        page: { limit: 2 },
      },
    });
    expect(paged.data!.results.map((r) => r.name)).toEqual(names.slice(0, 2));
    const second = await ctx.platform.POST('/access/v1/search/action', {
      body: {
        subject: { type: 'user', id: admin.userId },
        resource: member(org.orgId, 'usr_alice'),
        page: { limit: 2, token: paged.data!.page.next_token },
      },
    });
    expect(second.data!.results.map((r) => r.name)).toEqual(names.slice(2, 4));
  });
});

describe(`getEffectivePermissions (${engine})`, () => {
  test("a member's permissions, per team, and the role they come from; nothing while suspended", async () => {
    const org = await createOrg(ctx);
    const lead = await addActor(ctx, org, 'member');
    const led = await createTeam(org, 'Led');
    const joined = await createTeam(org, 'Joined');
    await joinTeam(org, led, lead.userId, 'lead');
    await joinTeam(org, joined, lead.userId, 'member');
    const read = (client: MemberRolesClient, userId = lead.userId) =>
      client.GET('/v1/organizations/{orgId}/members/{userId}/permissions', {
        params: { path: { orgId: org.orgId, userId } },
      });
    const { data } = await read(lead.client);
    const memberPermissions = ['org:read', 'members:read', 'roles:read', 'teams:read'];
    expect(data).toEqual({
      organizationId: org.orgId,
      userId: lead.userId,
      status: 'active',
      role: { id: 'member', name: 'Member' },
      organization: memberPermissions,
      teams: expect.arrayContaining([
        { teamId: led, role: 'lead', permissions: [...memberPermissions, 'teams:manage'] },
        { teamId: joined, role: 'member', permissions: memberPermissions },
      ]),
    });
    // The same facts as the decisions.
    for (const permission of data!.teams.find((t) => t.teamId === led)!.permissions) {
      expect(await ask(ctx.platform, question(lead.userId, permission, team(led)))).toEqual(
        permitted,
      );
    }
    expect((await read(ctx.platform)).data).toEqual(data);
    await changeMember(org, lead.userId, { status: 'suspended' });
    const suspended = (await read(org.owner.client)).data!;
    expect(suspended.status).toBe('suspended');
    expect(suspended.organization).toEqual([]);
    expect(suspended.teams.every((t) => t.permissions.length === 0)).toBe(true);
  });

  test('another member needs members:read; a stranger gets 404 as for anything of another organization', async () => {
    const org = await createOrg(ctx);
    const outsider = await addActor(ctx, org, (await noReadRole(org)).id);
    const path = { orgId: org.orgId, userId: org.owner.userId };
    const denied = await outsider.client.GET(
      '/v1/organizations/{orgId}/members/{userId}/permissions',
      { params: { path } },
    );
    expect(denied.error?.code).toBe('INSUFFICIENT_PERMISSION');
    const own = await outsider.client.GET(
      '/v1/organizations/{orgId}/members/{userId}/permissions',
      {
        params: { path: { orgId: org.orgId, userId: outsider.userId } },
      },
    );
    expect(own.data?.organization).toEqual(['org:read']);
    const stranger = await createOrg(ctx);
    const hidden = await stranger.owner.client.GET(
      '/v1/organizations/{orgId}/members/{userId}/permissions',
      { params: { path } },
    );
    expect(hidden.response.status).toBe(404);
  });
});

describe('the decision point describes itself', () => {
  test('/.well-known/authzen-configuration lists the endpoints on the origin asked, without a key', async () => {
    const res = await fetch(`${ctx.url}/.well-known/authzen-configuration`);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toMatch(/max-age=/);
    const base = ctx.url;
    expect(await res.json()).toEqual({
      policy_decision_point: base,
      access_evaluation_endpoint: `${base}/access/v1/evaluation`,
      access_evaluations_endpoint: `${base}/access/v1/evaluations`,
      search_subject_endpoint: `${base}/access/v1/search/subject`,
      search_action_endpoint: `${base}/access/v1/search/action`,
      search_resource_endpoint: `${base}/access/v1/search/resource`,
    });
  });

  test('MEMBER_ROLES_PUBLIC_URL names the decision point behind a proxy; a Host that is no host is refused', () => {
    const config = readConfig({ MEMBER_ROLES_PUBLIC_URL: 'https://pdp.example.com/' });
    expect(config.publicUrl).toBe('https://pdp.example.com');
    expect(decisionPointOf(config.publicUrl, 'http://127.0.0.1:3000')).toBe(
      'https://pdp.example.com',
    );
    expect(() => readConfig({ MEMBER_ROLES_PUBLIC_URL: 'https://pdp.example.com/?x=1' })).toThrow(
      /without credentials, query or fragment/,
    );
    expect(decisionPointOf(undefined, 'http://[::1]:8080')).toBe('http://[::1]:8080');
    expect(() => decisionPointOf(undefined, 'http://evil.test/"><x')).toThrow(/Host/);
  });
});
