import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { startTestService, type TestContext } from './support/context.js';
import {
  addActor,
  auditActions,
  createOrg,
  type TestActor,
  type TestOrg,
} from './support/scenario.js';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await startTestService();
});
afterAll(async () => {
  await ctx.stop();
});

const teamsPath = '/v1/organizations/{orgId}/teams' as const;
const teamPath = '/v1/organizations/{orgId}/teams/{teamId}' as const;
const teamMemberPath = '/v1/organizations/{orgId}/teams/{teamId}/members/{userId}' as const;

async function createTeam(org: TestOrg, name: string) {
  const { data, error } = await org.owner.client.POST(teamsPath, {
    params: { path: { orgId: org.orgId } },
    body: { name, description: `${name} team` },
  });
  if (!data) throw new Error(JSON.stringify(error));
  return data;
}

function setTeamRole(
  actor: TestActor,
  org: TestOrg,
  teamId: string,
  userId: string,
  role: 'lead' | 'member',
) {
  return actor.client.PUT(teamMemberPath, {
    params: { path: { orgId: org.orgId, teamId, userId } },
    body: { role },
  });
}

describe('teams', () => {
  test('teams:manage creates a team and adds members (201), then changes a team role (200); members show their teams', async () => {
    const org = await createOrg(ctx);
    const team = await createTeam(org, 'Platform');
    expect(team).toMatchObject({ name: 'Platform', memberCount: 0, version: 1 });
    const dev = await addActor(ctx, org, 'member');
    const added = await setTeamRole(org.owner, org, team.id, dev.userId, 'member');
    expect(added.response.status).toBe(201);
    const promoted = await setTeamRole(org.owner, org, team.id, dev.userId, 'lead');
    expect(promoted.response.status).toBe(200);
    expect(promoted.data).toMatchObject({ teamId: team.id, userId: dev.userId, role: 'lead' });
    const member = await org.owner.client.GET('/v1/organizations/{orgId}/members/{userId}', {
      params: { path: { orgId: org.orgId, userId: dev.userId } },
    });
    expect(member.data!.teams).toEqual([{ id: team.id, name: 'Platform', role: 'lead' }]);
    const filtered = await org.owner.client.GET('/v1/organizations/{orgId}/members', {
      params: { path: { orgId: org.orgId }, query: { teamId: team.id } },
    });
    expect(filtered.data!.data.map((m) => m.userId)).toEqual([dev.userId]);
    const actions = await auditActions(org);
    expect(actions.slice(0, 3)).toEqual([
      'team_member.role_changed',
      'team_member.added',
      'api_key.created',
    ]);
  });

  test('a page of members shows each member’s own teams, by name, as getMember shows them', async () => {
    const org = await createOrg(ctx);
    const zeta = await createTeam(org, 'Zeta');
    const alpha = await createTeam(org, 'Alpha');
    const both = await addActor(ctx, org, 'member');
    const one = await addActor(ctx, org, 'member');
    const none = await addActor(ctx, org, 'member');
    await setTeamRole(org.owner, org, zeta.id, both.userId, 'lead');
    await setTeamRole(org.owner, org, alpha.id, both.userId, 'member');
    await setTeamRole(org.owner, org, zeta.id, one.userId, 'member');
    const page = await org.owner.client.GET('/v1/organizations/{orgId}/members', {
      params: { path: { orgId: org.orgId }, query: { limit: 100 } },
    });
    const teamsOf = new Map(page.data!.data.map((m) => [m.userId, m.teams]));
    expect(teamsOf.get(both.userId)).toEqual([
      { id: alpha.id, name: 'Alpha', role: 'member' },
      { id: zeta.id, name: 'Zeta', role: 'lead' },
    ]);
    expect(teamsOf.get(one.userId)).toEqual([{ id: zeta.id, name: 'Zeta', role: 'member' }]);
    expect(teamsOf.get(none.userId)).toEqual([]);
    for (const member of page.data!.data) {
      const single = await org.owner.client.GET('/v1/organizations/{orgId}/members/{userId}', {
        params: { path: { orgId: org.orgId, userId: member.userId } },
      });
      expect(single.data).toEqual(member);
    }
  });

  test('a team lead can promote a teammate to lead but cannot touch another team', async () => {
    const org = await createOrg(ctx);
    const platform = await createTeam(org, 'Platform');
    const mobile = await createTeam(org, 'Mobile');
    const lead = await addActor(ctx, org, 'member');
    const mate = await addActor(ctx, org, 'member');
    const other = await addActor(ctx, org, 'member');
    await setTeamRole(org.owner, org, platform.id, lead.userId, 'lead');
    await setTeamRole(org.owner, org, platform.id, mate.userId, 'member');
    await setTeamRole(org.owner, org, mobile.id, other.userId, 'member');

    const promoted = await setTeamRole(lead, org, platform.id, mate.userId, 'lead');
    expect(promoted.response.status).toBe(200);
    expect(promoted.data!.role).toBe('lead');
    const elsewhere = await setTeamRole(lead, org, mobile.id, other.userId, 'lead');
    expect(elsewhere.response.status).toBe(403);
    expect(elsewhere.error!.code).toBe('INSUFFICIENT_PERMISSION');
    const orgRole = await lead.client.PUT('/v1/organizations/{orgId}/members/{userId}/role', {
      params: { path: { orgId: org.orgId, userId: mate.userId } },
      body: { roleId: 'viewer' },
    });
    expect(orgRole.error!.code).toBe('INSUFFICIENT_PERMISSION');
    const removed = await lead.client.DELETE(teamMemberPath, {
      params: { path: { orgId: org.orgId, teamId: platform.id, userId: mate.userId } },
    });
    expect(removed.response.status).toBe(204);
  });

  test("a member's ETag changes when their teams change; a team's when its members do", async () => {
    const org = await createOrg(ctx);
    const team = await createTeam(org, 'Platform');
    const dev = await addActor(ctx, org, 'member');
    const etagOf = async (path: string) =>
      (
        await fetch(`${ctx.url}${path}`, { headers: { Authorization: `Bearer ${org.owner.key}` } })
      ).headers.get('etag');
    const memberUrl = `/v1/organizations/${org.orgId}/members/${dev.userId}`;
    const teamUrl = `/v1/organizations/${org.orgId}/teams/${team.id}`;
    const seen = new Set([await etagOf(memberUrl)]);
    const teamSeen = new Set([await etagOf(teamUrl)]);
    await setTeamRole(org.owner, org, team.id, dev.userId, 'member');
    seen.add(await etagOf(memberUrl));
    teamSeen.add(await etagOf(teamUrl));
    await org.owner.client.PATCH(teamPath, {
      params: { path: { orgId: org.orgId, teamId: team.id } },
      body: { name: 'Core' },
    });
    seen.add(await etagOf(memberUrl));
    await org.owner.client.DELETE(teamMemberPath, {
      params: { path: { orgId: org.orgId, teamId: team.id, userId: dev.userId } },
    });
    seen.add(await etagOf(memberUrl));
    teamSeen.add(await etagOf(teamUrl));
    expect(seen.size).toBe(4);
    expect(teamSeen.size).toBe(3);
  });

  test('a member who is neither lead nor holder of teams:manage cannot change a team', async () => {
    const org = await createOrg(ctx);
    const team = await createTeam(org, 'Platform');
    const plain = await addActor(ctx, org, 'member');
    const { error } = await setTeamRole(plain, org, team.id, plain.userId, 'lead');
    expect(error!.code).toBe('INSUFFICIENT_PERMISSION');
  });

  test('only members of the organization can join its teams', async () => {
    const org = await createOrg(ctx);
    const other = await createOrg(ctx);
    const team = await createTeam(org, 'Platform');
    const { response, error } = await setTeamRole(
      org.owner,
      org,
      team.id,
      other.owner.userId,
      'member',
    );
    expect(response.status).toBe(404);
    expect(error!.code).toBe('NOT_FOUND');
  });

  test('removing a member from the organization removes their team memberships', async () => {
    const org = await createOrg(ctx);
    const team = await createTeam(org, 'Platform');
    const dev = await addActor(ctx, org, 'member');
    await setTeamRole(org.owner, org, team.id, dev.userId, 'member');
    await org.owner.client.DELETE('/v1/organizations/{orgId}/members/{userId}', {
      params: { path: { orgId: org.orgId, userId: dev.userId } },
    });
    const members = await org.owner.client.GET('/v1/organizations/{orgId}/teams/{teamId}/members', {
      params: { path: { orgId: org.orgId, teamId: team.id } },
    });
    expect(members.data!.data).toEqual([]);
    const after = await org.owner.client.GET(teamPath, {
      params: { path: { orgId: org.orgId, teamId: team.id } },
    });
    expect(after.data!.memberCount).toBe(0);
  });

  test('team names are unique per organization, in any case (409 TEAM_NAME_TAKEN)', async () => {
    const org = await createOrg(ctx);
    await createTeam(org, 'Platform');
    const { response, error } = await org.owner.client.POST(teamsPath, {
      params: { path: { orgId: org.orgId } },
      body: { name: 'PLATFORM' },
    });
    expect(response.status).toBe(409);
    expect(error!.code).toBe('TEAM_NAME_TAKEN');
  });

  test('updating and deleting a team honour If-Match and are audited', async () => {
    const org = await createOrg(ctx);
    const team = await createTeam(org, 'Platform');
    const stale = await org.owner.client.PATCH(teamPath, {
      params: { path: { orgId: org.orgId, teamId: team.id }, header: { 'If-Match': '"7"' } },
      body: { name: 'Core' },
    });
    expect(stale.error!.code).toBe('PRECONDITION_FAILED');
    const renamed = await org.owner.client.PATCH(teamPath, {
      params: { path: { orgId: org.orgId, teamId: team.id }, header: { 'If-Match': '"1"' } },
      body: { name: 'Core' },
    });
    expect(renamed.data).toMatchObject({ name: 'Core', version: 2 });
    const deleted = await org.owner.client.DELETE(teamPath, {
      params: { path: { orgId: org.orgId, teamId: team.id }, header: { 'If-Match': '"2"' } },
    });
    expect(deleted.response.status).toBe(204);
    expect((await auditActions(org)).slice(0, 3)).toEqual([
      'team.deleted',
      'team.updated',
      'team.created',
    ]);
  });

  test('listTeams pages by keyset and a viewer (no teams:read) cannot list', async () => {
    const org = await createOrg(ctx);
    for (const name of ['A', 'B', 'C']) await createTeam(org, name);
    const first = await org.owner.client.GET(teamsPath, {
      params: { path: { orgId: org.orgId }, query: { limit: 2 } },
    });
    const second = await org.owner.client.GET(teamsPath, {
      params: { path: { orgId: org.orgId }, query: { limit: 2, cursor: first.data!.nextCursor! } },
    });
    expect([...first.data!.data, ...second.data!.data].map((t) => t.name)).toEqual(['A', 'B', 'C']);
    expect(second.data!.nextCursor).toBeNull();
    const viewer = await addActor(ctx, org, 'viewer');
    const { error } = await viewer.client.GET(teamsPath, {
      params: { path: { orgId: org.orgId } },
    });
    expect(error!.code).toBe('INSUFFICIENT_PERMISSION');
  });
});

describe('limits', () => {
  test('an organization has at most 1000 teams (409 TEAM_LIMIT_REACHED), so a member is in at most 1000', async () => {
    const org = await createOrg(ctx);
    const now = new Date();
    await ctx.service.database.db
      .insertInto('teams')
      .values(
        Array.from({ length: 999 }, (_, i) => ({
          org_id: org.orgId,
          id: `team_01JD${String(i).padStart(22, '0')}`,
          name: `Bulk ${i}`,
          description: null,
          created_at: now,
          updated_at: now,
        })),
      )
      .execute();
    expect((await createTeam(org, 'The thousandth')).name).toBe('The thousandth');
    const { response, error } = await org.owner.client.POST(teamsPath, {
      params: { path: { orgId: org.orgId } },
      body: { name: 'One too many' },
    });
    expect(response.status).toBe(409);
    expect(error!.code).toBe('TEAM_LIMIT_REACHED');
  });
});
