import type { Executor, Trx } from '../storage/database.js';
import { onUniqueViolation } from '../storage/errors.js';
import { findMember, touchMembers } from '../storage/members.repository.js';
import {
  countTeams,
  deleteTeam as deleteTeamRow,
  deleteTeamMember,
  findTeam,
  findTeamByName,
  findTeamMember,
  insertTeam,
  listTeamMembers as listTeamMemberRows,
  listTeams as listTeamRows,
  touchTeams,
  updateTeam as updateTeamRow,
  upsertTeamMember,
  type TeamRecord,
} from '../storage/teams.repository.js';
import { inOrganization, readInOrganization, requirePermission, type Actor } from './access.js';
import type { DomainDeps, RequestContext } from './context.js';
import { decodeCursor, encodeCursor, keyString, pageOf } from './cursor.js';
import { AppError, notFound } from '../errors.js';
import { preconditionHolds, type Precondition } from './members.service.js';
import type { Page, Team, TeamMember, TeamRole } from './model.js';
import { toTeam, toTeamMember } from './representations.js';

const teamNotFound = () => notFound('The team');
/** An organization's teams, and so one member's, are bounded (the contract says so). */
export const MAX_TEAMS_PER_ORGANIZATION = 1000;
const teamNameTaken = () =>
  new AppError('TEAM_NAME_TAKEN', 'Another team of this organization already has this name.');
const teamPreconditionFailed = () =>
  new AppError(
    'PRECONDITION_FAILED',
    'The team has changed since you read it (If-Match does not match its ETag); read it again.',
  );

const translateNameClash = <T>(work: () => Promise<T>) =>
  onUniqueViolation('teams_name_unique', teamNameTaken, work);

async function loadTeam(trx: Executor, orgId: string, teamId: string, pre: Precondition = {}) {
  const team = await findTeam(trx, orgId, teamId);
  if (!team) throw teamNotFound();
  if (!preconditionHolds(pre, team.version)) {
    throw teamPreconditionFailed();
  }
  return team;
}

async function requireFreeName(trx: Trx, orgId: string, name: string, except?: string) {
  const clash = await findTeamByName(trx, orgId, name);
  if (clash && clash.id !== except) throw teamNameTaken();
}

export async function listTeams(
  deps: DomainDeps,
  ctx: RequestContext,
  orgId: string,
  query: { limit: number; cursor?: string },
): Promise<Page<Team>> {
  return readInOrganization(deps, ctx, orgId, async (trx, actor) => {
    requirePermission(actor, 'teams:read');
    const after =
      query.cursor === undefined
        ? undefined
        : keyString(decodeCursor(query.cursor, 'teams', orgId), 0);
    const rows = await listTeamRows(trx, orgId, query.limit + 1, after);
    return pageOf(rows, query.limit, toTeam, (row) => encodeCursor('teams', orgId, [row.id]));
  });
}

export async function getTeam(
  deps: DomainDeps,
  ctx: RequestContext,
  orgId: string,
  teamId: string,
): Promise<Team> {
  return readInOrganization(deps, ctx, orgId, async (trx, actor) => {
    requirePermission(actor, 'teams:read');
    return toTeam(await loadTeam(trx, orgId, teamId));
  });
}

export async function createTeam(
  deps: DomainDeps,
  ctx: RequestContext,
  orgId: string,
  input: { name: string; description?: string | null },
): Promise<Team> {
  return translateNameClash(() =>
    inOrganization(deps, ctx, orgId, async (trx, actor, _org, { now, audit }) => {
      requirePermission(actor, 'teams:manage');
      await requireFreeName(trx, orgId, input.name);
      if ((await countTeams(trx, orgId)) >= MAX_TEAMS_PER_ORGANIZATION) {
        throw new AppError(
          'TEAM_LIMIT_REACHED',
          `An organization has at most ${MAX_TEAMS_PER_ORGANIZATION} teams; delete one first.`,
        );
      }
      const id = deps.ids.next('team');
      await insertTeam(trx, {
        org_id: orgId,
        id,
        name: input.name,
        description: input.description ?? null,
        created_at: now,
        updated_at: now,
      });
      audit({
        action: 'team.created',
        targetId: id,
        before: null,
        after: { name: input.name, description: input.description ?? null },
      });
      return toTeam((await findTeam(trx, orgId, id))!);
    }),
  );
}

export async function updateTeam(
  deps: DomainDeps,
  ctx: RequestContext,
  orgId: string,
  teamId: string,
  patch: { name?: string; description?: string | null },
  pre: Precondition = {},
): Promise<Team> {
  return translateNameClash(() =>
    inOrganization(deps, ctx, orgId, async (trx, actor, _org, { now, audit }) => {
      requirePermission(actor, 'teams:manage');
      const team = await loadTeam(trx, orgId, teamId, pre);
      const changes: { name?: string; description?: string | null } = {};
      if (patch.name !== undefined && patch.name !== team.name) {
        await requireFreeName(trx, orgId, patch.name, teamId);
        changes.name = patch.name;
      }
      if (patch.description !== undefined && patch.description !== team.description) {
        changes.description = patch.description;
      }
      if (Object.keys(changes).length === 0) return toTeam(team);
      if (!(await updateTeamRow(trx, orgId, teamId, changes, now, team.version))) {
        throw teamPreconditionFailed();
      }
      // Members show their teams' names.
      if (changes.name !== undefined) await touchMembers(trx, orgId, { teamId }, now);
      audit({
        action: 'team.updated',
        targetId: teamId,
        before: Object.fromEntries(
          Object.keys(changes).map((k) => [k, team[k as 'name' | 'description']]),
        ),
        after: changes,
      });
      return toTeam((await findTeam(trx, orgId, teamId))!);
    }),
  );
}

export async function deleteTeam(
  deps: DomainDeps,
  ctx: RequestContext,
  orgId: string,
  teamId: string,
  pre: Precondition = {},
): Promise<void> {
  await inOrganization(deps, ctx, orgId, async (trx, actor, _org, { now, audit }) => {
    requirePermission(actor, 'teams:manage');
    const team = await loadTeam(trx, orgId, teamId, pre);
    await touchMembers(trx, orgId, { teamId }, now); // their teams change
    if (!(await deleteTeamRow(trx, orgId, teamId, team.version))) throw teamPreconditionFailed();
    audit({
      action: 'team.deleted',
      targetId: teamId,
      before: { name: team.name, description: team.description },
      after: null,
    });
  });
}

export async function listTeamMembers(
  deps: DomainDeps,
  ctx: RequestContext,
  orgId: string,
  teamId: string,
  query: { limit: number; cursor?: string },
): Promise<Page<TeamMember>> {
  return readInOrganization(deps, ctx, orgId, async (trx, actor) => {
    requirePermission(actor, 'teams:read');
    await loadTeam(trx, orgId, teamId);
    const list = `team-members:${teamId}`;
    const after =
      query.cursor === undefined
        ? undefined
        : keyString(decodeCursor(query.cursor, list, orgId), 0);
    const rows = await listTeamMemberRows(trx, orgId, teamId, query.limit + 1, after);
    return pageOf(rows, query.limit, toTeamMember, (row) =>
      encodeCursor(list, orgId, [row.user_id]),
    );
  });
}

/** Rule 10: `teams:manage` acts on any team; a team's lead acts within their own team only. */
async function requireTeamAuthority(trx: Trx, actor: Actor, team: TeamRecord) {
  if (actor.permissions.has('teams:manage')) return;
  const own = await findTeamMember(trx, team.org_id, team.id, actor.userId);
  if (own?.role !== 'lead') {
    throw new AppError(
      'INSUFFICIENT_PERMISSION',
      "Changing a team's members needs teams:manage or being that team's lead.",
    );
  }
}

/**
 * Rule 10: adds a member of the organization to the team, or changes their team role. Answers
 * whether the membership was created.
 */
export async function setTeamMemberRole(
  deps: DomainDeps,
  ctx: RequestContext,
  orgId: string,
  teamId: string,
  userId: string,
  role: TeamRole,
): Promise<{ created: boolean; member: TeamMember }> {
  return inOrganization(deps, ctx, orgId, async (trx, actor, _org, { now, audit }) => {
    const team = await loadTeam(trx, orgId, teamId);
    await requireTeamAuthority(trx, actor, team);
    if (!(await findMember(trx, orgId, userId))) {
      throw notFound('The member (only members of the organization can join its teams)');
    }
    const current = await findTeamMember(trx, orgId, teamId, userId);
    if (current?.role === role) return { created: false, member: toTeamMember(current) };
    await upsertTeamMember(trx, { org_id: orgId, team_id: teamId, user_id: userId, role }, now);
    await touchMembers(trx, orgId, { userIds: [userId] }, now);
    if (!current) await touchTeams(trx, orgId, [teamId], now); // its memberCount changed
    audit({
      action: current ? 'team_member.role_changed' : 'team_member.added',
      targetUserId: userId,
      targetId: teamId,
      before: current ? { teamId, teamRole: current.role } : null,
      after: { teamId, teamRole: role },
    });
    const member = toTeamMember((await findTeamMember(trx, orgId, teamId, userId))!);
    return { created: !current, member };
  });
}

/** Rule 10: `teams:manage`, or the team's lead, removes someone from the team. */
export async function removeTeamMember(
  deps: DomainDeps,
  ctx: RequestContext,
  orgId: string,
  teamId: string,
  userId: string,
): Promise<void> {
  await inOrganization(deps, ctx, orgId, async (trx, actor, _org, { now, audit }) => {
    const team = await loadTeam(trx, orgId, teamId);
    await requireTeamAuthority(trx, actor, team);
    const current = await findTeamMember(trx, orgId, teamId, userId);
    if (!current) throw notFound('The team member');
    await deleteTeamMember(trx, orgId, teamId, userId);
    await touchMembers(trx, orgId, { userIds: [userId] }, now);
    await touchTeams(trx, orgId, [teamId], now);
    audit({
      action: 'team_member.removed',
      targetUserId: userId,
      targetId: teamId,
      before: { teamId, teamRole: current.role },
      after: null,
    });
  });
}
