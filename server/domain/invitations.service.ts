import { findDefaultRole, findRole, touchRolesWrite } from '../storage/roles.repository.js';
import { insertMember, type MemberRecord } from '../storage/members.repository.js';
import {
  acceptanceFacts,
  existingTeamIds,
  findInvitation,
  findInvitationByToken,
  findPendingByEmail,
  insertInvitation,
  invitationFact,
  invitationsPageFact,
  memberWithEmail,
  organizationOfToken,
  updateInvitation,
  updateInvitationWrite,
  type InvitationFilter,
  type InvitationRecord,
} from '../storage/invitations.repository.js';
import { insertTeamMemberWrite, touchTeamsWrite } from '../storage/teams.repository.js';
import type { Trx } from '../storage/database.js';
import { hashSecret, newToken } from '../infra/secrets.js';
import { AppError, invalid, notFound } from '../errors.js';
import {
  inOrganizationOrPlatform,
  readInOrganization,
  requirePermission,
  requirePlatform,
  requireWithinCeiling,
  runStep,
  step,
  type Actor,
  type Step,
} from './access.js';
import type { AuditChange } from './audit.js';
import type { DomainDeps, RequestContext } from './context.js';
import { decodeCursor, encodeCursor, keyString, pageOf } from './cursor.js';
import type { Invitation, InvitationCreated, Member, Page, TeamRole } from './model.js';
import { OWNER_ROLE_ID } from './permissions.js';
import { joining } from './members.service.js';
import { toInvitation } from './representations.js';
import { requireSeat } from './seats.js';

const DAY_MS = 24 * 60 * 60 * 1000;
const DEFAULT_EXPIRY_DAYS = 7;

const invitationNotFound = () => notFound('The invitation');

const notPending = (record: InvitationRecord) =>
  new AppError('INVITATION_NOT_PENDING', `The invitation was already ${record.status}.`);

const expired = (record: InvitationRecord) =>
  new AppError(
    'INVITATION_EXPIRED',
    `The invitation expired at ${new Date(record.expires_at).toISOString()}; ask for it to be resent.`,
  );

const changedMeanwhile = () =>
  new AppError('PRECONDITION_FAILED', 'The invitation changed meanwhile; read it again.');

const isExpired = (record: { status: string; expires_at: Date | string }, now: Date) =>
  record.status === 'expired' ||
  (record.status === 'pending' && new Date(record.expires_at) <= now);

/** A pending invitation, neither answered nor expired: else 409 or 410. */
function requirePending(record: InvitationRecord, now: Date) {
  if (isExpired(record, now)) throw expired(record);
  if (record.status !== 'pending') throw notPending(record);
}

export interface NewInvitation {
  email: string;
  roleId?: string;
  teams?: { teamId: string; role: TeamRole }[];
  expiresInDays?: number;
}

/**
 * Invitations (api.md, "Invitations and seats"): `members:invite`, rule 13 (nobody joins as
 * owner) and rule 2 on the invited role; one pending invitation per email; a seat per pending
 * invitation. The token is answered once and stored as a hash.
 */
export async function createInvitation(
  deps: DomainDeps,
  ctx: RequestContext,
  orgId: string,
  input: NewInvitation,
): Promise<InvitationCreated> {
  refuseOwnerRole(input.roleId);
  return runStep(deps, ctx, orgId, createInvitationStep(deps, orgId, input));
}

function refuseOwnerRole(roleId: string | undefined) {
  if (roleId === OWNER_ROLE_ID) {
    throw invalid(
      'body',
      '/roleId',
      'Nobody joins as owner: invite the person with another role, then transfer ownership.',
    );
  }
}

/** `createInvitation`'s rules and writes, alone or as an item of a batch. */
export function createInvitationStep(
  deps: DomainDeps,
  orgId: string,
  input: NewInvitation,
): Step<InvitationCreated> {
  return step(async (trx, actor, org, { now, audit }) => {
    requirePermission(actor, 'members:invite');
    refuseOwnerRole(input.roleId);
    const role =
      input.roleId === undefined
        ? await findDefaultRole(trx, orgId)
        : await findRole(trx, orgId, input.roleId);
    if (!role) throw invalid('body', '/roleId', 'No role with this id exists in the organization.');
    requireWithinCeiling(actor, role.permissions, `Granting the role ${role.name}`);
    const teams = input.teams ?? [];
    const known = await existingTeamIds(
      trx,
      orgId,
      teams.map((t) => t.teamId),
    );
    teams.forEach((team, i) => {
      if (!known.has(team.teamId)) {
        throw invalid(
          'body',
          `/teams/${i}/teamId`,
          'No team with this id exists in the organization.',
        );
      }
    });
    if (new Set(teams.map((t) => t.teamId)).size !== teams.length) {
      throw invalid('body', '/teams', 'Name each team once.');
    }
    if (await memberWithEmail(trx, orgId, input.email)) {
      throw new AppError('MEMBER_EXISTS', 'A member of the organization already has this email.');
    }
    await expireIfStale(trx, orgId, input.email, now);
    if (await findPendingByEmail(trx, orgId, input.email)) {
      throw new AppError(
        'INVITATION_EXISTS',
        'A pending invitation for this email already exists: resend it or revoke it.',
      );
    }
    await requireSeat(trx, org, now, 1);
    const id = deps.ids.next('inv');
    const token = newToken();
    const days = input.expiresInDays ?? DEFAULT_EXPIRY_DAYS;
    await insertInvitation(
      trx,
      {
        org_id: orgId,
        id,
        email: input.email,
        role_id: role.id,
        status: 'pending',
        invited_by: actor.userId,
        token_hash: hashSecret(token),
        created_at: now,
        expires_in_days: days,
        expires_at: new Date(now.getTime() + days * DAY_MS),
        responded_at: null,
        updated_at: now,
      },
      teams,
    );
    audit({
      action: 'invitation.created',
      targetId: id,
      before: null,
      after: {
        email: input.email,
        roleId: role.id,
        teams: teams.map((t) => ({ teamId: t.teamId, teamRole: t.role })),
      },
    });
    const record = (await findInvitation(trx, orgId, id))!;
    return { ...toInvitation(record, now), token };
  });
}

/**
 * A pending invitation whose time has passed becomes `expired` in storage when another for the
 * same email is made (so the one-pending-per-email index holds only live ones).
 */
async function expireIfStale(trx: Trx, orgId: string, email: string, now: Date) {
  const pending = await findPendingByEmail(trx, orgId, email);
  if (pending && new Date(pending.expires_at) <= now) {
    const record = (await findInvitation(trx, orgId, pending.id))!;
    if (
      !(await updateInvitation(trx, orgId, record.id, { status: 'expired' }, now, record.version))
    ) {
      throw changedMeanwhile();
    }
  }
}

/** `members:read`; one statement. An invitation past its time shows `expired`. */
export async function getInvitation(
  deps: DomainDeps,
  ctx: RequestContext,
  orgId: string,
  invitationId: string,
): Promise<Invitation> {
  const now = deps.clock.now();
  return readInOrganization(
    deps,
    ctx,
    orgId,
    (_db, actor, { invitation }) => {
      requirePermission(actor, 'members:read');
      if (!invitation) throw invitationNotFound();
      return toInvitation(invitation, now);
    },
    { invitation: invitationFact(deps.db, orgId, invitationId) },
  );
}

export interface ListInvitationsQuery extends InvitationFilter {
  limit: number;
  cursor?: string;
}

/** `members:read`; one statement: the actor, tenancy and the page. */
export async function listInvitations(
  deps: DomainDeps,
  ctx: RequestContext,
  orgId: string,
  query: ListInvitationsQuery,
): Promise<Page<Invitation>> {
  const now = deps.clock.now();
  const after =
    query.cursor === undefined
      ? undefined
      : keyString(decodeCursor(query.cursor, 'invitations', orgId), 0);
  const filter: InvitationFilter = {
    ...(query.status ? { status: query.status } : {}),
    ...(query.email ? { email: query.email } : {}),
  };
  return readInOrganization(
    deps,
    ctx,
    orgId,
    (_db, actor, { rows }) => {
      requirePermission(actor, 'members:read');
      return pageOf(
        rows,
        query.limit,
        (row) => toInvitation(row, now),
        (row) => encodeCursor('invitations', orgId, [row.id]),
      );
    },
    { rows: invitationsPageFact(deps.db, orgId, filter, now, query.limit + 1, after) },
  );
}

async function loadInvitation(trx: Trx, orgId: string, invitationId: string) {
  const record = await findInvitation(trx, orgId, invitationId);
  if (!record) throw invitationNotFound();
  return record;
}

/** `members:invite`: a pending invitation is revoked; its token dies and its seat is free. */
export async function revokeInvitation(
  deps: DomainDeps,
  ctx: RequestContext,
  orgId: string,
  invitationId: string,
): Promise<void> {
  await runStep(
    deps,
    ctx,
    orgId,
    step(async (trx, actor, _org, { now, audit }) => {
      requirePermission(actor, 'members:invite');
      const record = await loadInvitation(trx, orgId, invitationId);
      requirePending(record, now);
      const changes = { status: 'revoked' as const, responded_at: now };
      if (!(await updateInvitation(trx, orgId, record.id, changes, now, record.version))) {
        throw changedMeanwhile();
      }
      audit({
        action: 'invitation.revoked',
        targetId: record.id,
        before: { status: 'pending' },
        after: { status: 'revoked' },
      });
    }),
  );
}

/**
 * `members:invite` and rule 2 on the invitation's role, as when inviting: a new token and a new
 * expiry; the old token dies. An expired invitation takes a seat again.
 */
export async function resendInvitation(
  deps: DomainDeps,
  ctx: RequestContext,
  orgId: string,
  invitationId: string,
): Promise<InvitationCreated> {
  return runStep(
    deps,
    ctx,
    orgId,
    step(async (trx, actor, org, { now, audit }) => {
      requirePermission(actor, 'members:invite');
      const record = await loadInvitation(trx, orgId, invitationId);
      const wasExpired = isExpired(record, now);
      if (!wasExpired && record.status !== 'pending') throw notPending(record);
      const role = await findRole(trx, orgId, record.role_id);
      if (!role) {
        throw new AppError(
          'INVITATION_INVALIDATED',
          'The role of this invitation no longer exists: invite again with another role.',
        );
      }
      requireWithinCeiling(actor, role.permissions, `Granting the role ${role.name}`);
      if (wasExpired) {
        const other = await findPendingByEmail(trx, orgId, record.email);
        if (other && other.id !== record.id) {
          throw new AppError(
            'INVITATION_EXISTS',
            'Another pending invitation for this email was made meanwhile: resend that one.',
          );
        }
        // Its seat was free while it was expired: it takes one again.
        await requireSeat(trx, org, now, 1);
      }
      const token = newToken();
      const expiresAt = new Date(now.getTime() + record.expires_in_days * DAY_MS);
      const changes = {
        status: 'pending' as const,
        token_hash: hashSecret(token),
        expires_at: expiresAt,
        invited_by: actor.userId,
      };
      if (!(await updateInvitation(trx, orgId, record.id, changes, now, record.version))) {
        throw changedMeanwhile();
      }
      audit({
        action: 'invitation.resent',
        targetId: record.id,
        before: { expiresAt: new Date(record.expires_at).toISOString() },
        after: { expiresAt: expiresAt.toISOString() },
      });
      return { ...toInvitation((await findInvitation(trx, orgId, record.id))!, now), token };
    }),
  );
}

export interface Acceptance {
  token: string;
  userId: string;
  email: string;
  name?: string | null;
  imageUrl?: string | null;
}

/** The organization a token belongs to, for the platform key only; 404 for an unknown token. */
async function organizationOf(deps: DomainDeps, ctx: RequestContext, token: string) {
  await requirePlatform(
    deps.db,
    ctx,
    'Only the platform key (your backend, vouching for the user) answers invitations.',
  );
  const orgId = await organizationOfToken(deps.db, hashSecret(token));
  if (!orgId) throw invitationNotFound();
  return orgId;
}

/**
 * The platform key vouches that the user owns `email`: it must be the invitation's. Rule 2 again,
 * against the inviter's role now (409 INVITATION_INVALIDATED). The membership and its team
 * memberships are created in one transaction, with `invitation.accepted` and `member.added`.
 */
export async function acceptInvitation(
  deps: DomainDeps,
  ctx: RequestContext,
  input: Acceptance,
): Promise<{ invitation: Invitation; member: Member }> {
  const orgId = await organizationOf(deps, ctx, input.token);
  const tokenHash = hashSecret(input.token);
  return inOrganizationOrPlatform(
    deps,
    ctx,
    orgId,
    async (trx, _platform, org, { now, facts, audit, defer }) => {
      // Read again under the lock: a resend may have killed this token meanwhile.
      const { invitation: record, inviter, existing } = facts;
      if (!record) throw invitationNotFound();
      requirePending(record, now);
      if (record.email.toLowerCase() !== input.email.toLowerCase()) {
        throw new AppError(
          'INVITATION_EMAIL_MISMATCH',
          'The invitation was sent to another email address than the one vouched for.',
        );
      }
      const role = requireInviterStillMay(record, inviter);
      if (existing) {
        throw new AppError('MEMBER_EXISTS', 'This user is already a member of the organization.');
      }
      await requireSeat(trx, org, now, 0); // the invitation holds its seat already
      const joined = joining(orgId, input, role, now);
      await insertMember(trx, joined.row);
      const events: AuditChange[] = [
        {
          action: 'invitation.accepted',
          targetId: record.id,
          targetUserId: input.userId,
          before: { status: 'pending' },
          after: { status: 'accepted' },
        },
        joined.event,
      ];
      const row = { org_id: orgId, user_id: input.userId };
      for (const team of record.teams) {
        defer(insertTeamMemberWrite(trx, { ...row, team_id: team.id, role: team.role }, now));
        events.push({
          action: 'team_member.added',
          targetUserId: input.userId,
          targetId: team.id,
          before: null,
          after: { teamId: team.id, teamRole: team.role },
        });
      }
      defer(touchRolesWrite(trx, orgId, [role.id], now)); // its memberCount changed
      if (record.teams.length > 0) {
        defer(
          touchTeamsWrite(
            trx,
            orgId,
            record.teams.map((t) => t.id),
            now,
          ),
        );
      }
      const changes = { status: 'accepted' as const, responded_at: now };
      defer(updateInvitationWrite(trx, orgId, record.id, changes, now, record.version), {
        rows: 1,
        otherwise: changedMeanwhile,
      });
      audit(...events);
      return {
        invitation: toInvitation(
          { ...record, ...changes, updated_at: now, version: record.version + 1 },
          now,
        ),
        member: joined.member(record.teams),
      };
    },
    acceptanceFacts(deps.db, orgId, tokenHash, input.userId),
  );
}

/**
 * Rule 2 at acceptance: the inviter must still be an active member holding `members:invite` and
 * every permission of the invited role (the owner holds all), and the role must still exist.
 * Answers the role.
 */
function requireInviterStillMay(record: InvitationRecord, inviter: MemberRecord | null) {
  const invalidated = (why: string) =>
    new AppError('INVITATION_INVALIDATED', `${why}: the invitation must be sent again.`);
  if (record.role_name === null || record.role_permissions === null) {
    throw invalidated('The role of this invitation no longer exists');
  }
  const role = { id: record.role_id, name: record.role_name, permissions: record.role_permissions };
  if (!inviter || inviter.status !== 'active') {
    throw invalidated('The member who sent the invitation is no longer an active member');
  }
  const asActor: Actor = {
    userId: inviter.user_id,
    apiKeyId: null,
    via: 'platform',
    roleId: inviter.role_id,
    permissions: new Set(inviter.role_permissions),
    isOwner: inviter.role_id === OWNER_ROLE_ID,
  };
  try {
    requirePermission(asActor, 'members:invite');
    requireWithinCeiling(asActor, role.permissions, `Granting the role ${role.name}`);
  } catch (error) {
    if (!(error instanceof AppError)) throw error;
    throw invalidated(`The member who sent the invitation no longer may: ${error.message}`);
  }
  return role;
}

/** The invited person declines: the invitation is `declined` and its seat is free. */
export async function declineInvitation(
  deps: DomainDeps,
  ctx: RequestContext,
  token: string,
): Promise<Invitation> {
  const orgId = await organizationOf(deps, ctx, token);
  return inOrganizationOrPlatform(
    deps,
    ctx,
    orgId,
    async (trx, _platform, _org, { now, audit }) => {
      const record = await findInvitationByToken(trx, orgId, hashSecret(token));
      if (!record) throw invitationNotFound();
      requirePending(record, now);
      const changes = { status: 'declined' as const, responded_at: now };
      if (!(await updateInvitation(trx, orgId, record.id, changes, now, record.version))) {
        throw changedMeanwhile();
      }
      audit({
        action: 'invitation.declined',
        targetId: record.id,
        before: { status: 'pending' },
        after: { status: 'declined' },
      });
      return toInvitation((await findInvitation(trx, orgId, record.id))!, now);
    },
  );
}
