import {
  deleteMember,
  findMember,
  insertMember,
  listMembers as listMemberRows,
  teamsOfMembers,
  updateMember,
  type MemberFilter,
  type MemberRecord,
} from '../storage/members.repository.js';
import { findDefaultRole, findRole, touchRoles } from '../storage/roles.repository.js';
import { teamIdsOf, touchTeams } from '../storage/teams.repository.js';
import { insertAuditEvents } from '../storage/audit.repository.js';
import type { Executor, Trx } from '../storage/database.js';
import type { NewAuditEvent } from '../storage/schema.js';
import {
  inOrganization,
  readInOrganization,
  requirePermission,
  requireWithinCeiling,
  type Actor,
} from './access.js';
import { auditEvent } from './audit.js';
import type { DomainDeps, RequestContext } from './context.js';
import { decodeCursor, encodeCursor, keyString, pageOf } from './cursor.js';
import { AppError, invalid, notFound } from './errors.js';
import type { Member, MemberStatus, Page } from './model.js';
import { FORMER_OWNER_ROLE_ID, OWNER_ROLE_ID } from './permissions.js';
import { groupTeams, toMember } from './representations.js';

/**
 * What `If-Match` asked for: the versions the caller will accept (none matching means 412), or
 * nothing when it named none.
 */
export interface Precondition {
  acceptedVersions?: readonly number[];
}

/** True when the precondition allows acting on this version. */
export function preconditionHolds(pre: Precondition, version: number): boolean {
  return pre.acceptedVersions === undefined || pre.acceptedVersions.includes(version);
}

const memberNotFound = () => notFound('The member');

const preconditionFailed = () =>
  new AppError(
    'PRECONDITION_FAILED',
    'The member has changed since you read it (If-Match does not match its ETag); read it again.',
  );

async function membersView(ex: Executor, orgId: string, records: MemberRecord[]) {
  const teams = groupTeams(
    await teamsOfMembers(
      ex,
      orgId,
      records.map((r) => r.user_id),
    ),
  );
  return records.map((record) => toMember(record, teams.get(record.user_id) ?? []));
}

async function memberView(ex: Executor, orgId: string, userId: string): Promise<Member> {
  const record = await findMember(ex, orgId, userId);
  if (!record) throw memberNotFound();
  const [member] = await membersView(ex, orgId, [record]);
  return member!;
}

async function loadTarget(trx: Trx, orgId: string, userId: string, pre: Precondition = {}) {
  const target = await findMember(trx, orgId, userId);
  if (!target) throw memberNotFound();
  if (!preconditionHolds(pre, target.version)) {
    throw preconditionFailed();
  }
  return target;
}

/** Writes a member change only if the row still has the version read under the lock. */
async function writeMember(
  trx: Trx,
  target: MemberRecord,
  changes: { role_id?: string; status?: MemberStatus },
  now: Date,
) {
  const written = await updateMember(
    trx,
    target.org_id,
    target.user_id,
    changes,
    now,
    target.version,
  );
  if (!written) throw preconditionFailed();
}

export async function getMember(
  deps: DomainDeps,
  ctx: RequestContext,
  orgId: string,
  userId: string,
): Promise<Member> {
  return readInOrganization(deps, ctx, orgId, async (trx, actor) => {
    requirePermission(actor, 'members:read');
    return memberView(trx, orgId, userId);
  });
}

/** Any active member may read their own membership. */
export async function getCurrentMember(
  deps: DomainDeps,
  ctx: RequestContext,
  orgId: string,
): Promise<Member> {
  return readInOrganization(deps, ctx, orgId, (trx, actor) => memberView(trx, orgId, actor.userId));
}

export interface ListMembersQuery extends MemberFilter {
  limit: number;
  cursor?: string;
}

export async function listMembers(
  deps: DomainDeps,
  ctx: RequestContext,
  orgId: string,
  query: ListMembersQuery,
): Promise<Page<Member>> {
  return readInOrganization(deps, ctx, orgId, async (trx, actor) => {
    requirePermission(actor, 'members:read');
    const after =
      query.cursor === undefined
        ? undefined
        : keyString(decodeCursor(query.cursor, 'members', orgId), 0);
    const rows = await listMemberRows(trx, orgId, query, query.limit + 1, after);
    const page = pageOf(
      rows,
      query.limit,
      (row) => row,
      (row) => encodeCursor('members', orgId, [row.user_id]),
    );
    return { data: await membersView(trx, orgId, page.data), nextCursor: page.nextCursor };
  });
}

export interface NewMember {
  userId: string;
  email: string;
  name?: string | null;
  imageUrl?: string | null;
  roleId?: string;
}

/** Rule 13: nobody joins as owner; without roleId the organization's default role applies. Rule 2 for the role given. */
export async function addMember(
  deps: DomainDeps,
  ctx: RequestContext,
  orgId: string,
  input: NewMember,
): Promise<Member> {
  return inOrganization(deps, ctx, orgId, async (trx, actor) => {
    requirePermission(actor, 'members:invite');
    if (input.roleId === OWNER_ROLE_ID) {
      throw invalid(
        'body',
        '/roleId',
        'Nobody joins as owner: add the member with another role, then transfer ownership.',
      );
    }
    const role =
      input.roleId === undefined
        ? await findDefaultRole(trx, orgId)
        : await findRole(trx, orgId, input.roleId);
    if (!role) throw invalid('body', '/roleId', 'No role with this id exists in the organization.');
    requireWithinCeiling(actor, role.permissions, `Granting the role ${role.name}`);
    if (await findMember(trx, orgId, input.userId)) {
      throw new AppError('MEMBER_EXISTS', 'This user is already a member of the organization.');
    }
    const now = deps.clock.now();
    await insertMember(trx, {
      org_id: orgId,
      user_id: input.userId,
      email: input.email,
      name: input.name ?? null,
      image_url: input.imageUrl ?? null,
      role_id: role.id,
      status: 'active',
      joined_at: now,
      updated_at: now,
    });
    await touchRoles(trx, orgId, [role.id], now); // its memberCount changed
    await insertAuditEvents(trx, [
      auditEvent(deps, ctx, orgId, now, {
        action: 'member.added',
        targetUserId: input.userId,
        before: null,
        after: { roleId: role.id, status: 'active', email: input.email },
      }),
    ]);
    return memberView(trx, orgId, input.userId);
  });
}

export interface MemberChange {
  roleId?: string;
  status?: MemberStatus;
}

/**
 * Rules 1–6 and 12: change a member's role and/or status in one transaction, one version step,
 * one audit event per changed field. Assigning `owner` transfers ownership (rule 3).
 */
export async function changeMember(
  deps: DomainDeps,
  ctx: RequestContext,
  orgId: string,
  userId: string,
  change: MemberChange,
  pre: Precondition = {},
): Promise<Member> {
  return inOrganization(deps, ctx, orgId, async (trx, actor) => {
    requirePermission(actor, 'members:manage');
    const target = await loadTarget(trx, orgId, userId, pre);
    const roleChanges = change.roleId !== undefined && change.roleId !== target.role_id;
    const newStatus =
      change.status !== undefined && change.status !== target.status ? change.status : undefined;
    // Rule 4 first: whoever asks, the owner's role and status do not change.
    if (target.role_id === OWNER_ROLE_ID && roleChanges) {
      throw new AppError(
        'OWNER_REQUIRED',
        "The owner's role can only change by transferring ownership to another member.",
      );
    }
    if (target.role_id === OWNER_ROLE_ID && newStatus !== undefined) {
      throw new AppError(
        'OWNER_REQUIRED',
        'The owner cannot be suspended: transfer ownership first.',
      );
    }
    requireWithinCeiling(
      actor,
      target.role_permissions,
      `Acting on a member with the role ${target.role_name}`,
    );

    const newRole = roleChanges ? await findRole(trx, orgId, change.roleId!) : undefined;
    if (roleChanges) {
      if (!newRole)
        throw invalid('body', '/roleId', 'No role with this id exists in the organization.');
      requireWithinCeiling(actor, newRole.permissions, `Granting the role ${newRole.name}`);
      if (newRole.id === OWNER_ROLE_ID && !actor.isOwner) {
        throw new AppError('PRIVILEGE_CEILING', 'Only the owner can assign the owner role.');
      }
    }
    const finalStatus = newStatus ?? target.status;
    if (newRole?.id === OWNER_ROLE_ID && newStatus === 'suspended') {
      throw new AppError(
        'OWNER_REQUIRED',
        'The owner cannot be suspended: the new owner must stay active.',
      );
    }
    if (newRole?.id === OWNER_ROLE_ID && finalStatus !== 'active') {
      throw new AppError(
        'TARGET_SUSPENDED',
        'Ownership can only go to an active member: reactivate the member first.',
      );
    }
    if (!newRole && newStatus === undefined) return memberView(trx, orgId, userId); // rule 6

    const now = deps.clock.now();
    const events: NewAuditEvent[] = [];
    if (newRole?.id === OWNER_ROLE_ID) {
      const reactivation = newStatus !== undefined ? { status: newStatus } : {};
      events.push(...(await moveOwnership(deps, ctx, trx, actor, target, now, reactivation)));
    } else {
      await writeMember(
        trx,
        target,
        {
          ...(newRole ? { role_id: newRole.id } : {}),
          ...(newStatus !== undefined ? { status: newStatus } : {}),
        },
        now,
      );
      if (newRole) {
        await touchRoles(trx, orgId, [target.role_id, newRole.id], now);
        events.push(
          auditEvent(deps, ctx, orgId, now, {
            action: 'member.role_changed',
            targetUserId: userId,
            before: { roleId: target.role_id },
            after: { roleId: newRole.id },
          }),
        );
      }
    }
    if (newStatus !== undefined) {
      events.push(
        auditEvent(deps, ctx, orgId, now, {
          action: 'member.status_changed',
          targetUserId: userId,
          before: { status: target.status },
          after: { status: newStatus },
        }),
      );
    }
    await insertAuditEvents(trx, events);
    return memberView(trx, orgId, userId);
  });
}

/**
 * Rule 3: the target becomes owner and the current owner (the actor) becomes admin, in the
 * caller's transaction, with one audit event each. The former owner is demoted first so the
 * one-owner index never sees two.
 */
async function moveOwnership(
  deps: DomainDeps,
  ctx: RequestContext,
  trx: Trx,
  actor: Actor,
  target: MemberRecord,
  now: Date,
  targetChanges: { status?: MemberStatus } = {},
): Promise<NewAuditEvent[]> {
  const owner = await findMember(trx, target.org_id, actor.userId);
  if (!owner || owner.role_id !== OWNER_ROLE_ID) {
    throw new AppError('INSUFFICIENT_PERMISSION', 'Only the owner can transfer ownership.');
  }
  await writeMember(trx, owner, { role_id: FORMER_OWNER_ROLE_ID }, now);
  await writeMember(trx, target, { ...targetChanges, role_id: OWNER_ROLE_ID }, now);
  await touchRoles(trx, target.org_id, [FORMER_OWNER_ROLE_ID, target.role_id], now);
  const orgId = target.org_id;
  return [
    auditEvent(deps, ctx, orgId, now, {
      action: 'ownership.transferred',
      targetUserId: target.user_id,
      before: { roleId: target.role_id },
      after: { roleId: OWNER_ROLE_ID },
    }),
    auditEvent(deps, ctx, orgId, now, {
      action: 'ownership.transferred',
      targetUserId: owner.user_id,
      before: { roleId: OWNER_ROLE_ID },
      after: { roleId: FORMER_OWNER_ROLE_ID },
    }),
  ];
}

/** Rule 3, explicitly: only the owner may transfer; to oneself it is a no-op. */
export async function transferOwnership(
  deps: DomainDeps,
  ctx: RequestContext,
  orgId: string,
  userId: string,
): Promise<{ previousOwner: Member; newOwner: Member }> {
  return inOrganization(deps, ctx, orgId, async (trx, actor) => {
    if (!actor.isOwner) {
      throw new AppError('INSUFFICIENT_PERMISSION', 'Only the owner can transfer ownership.');
    }
    const target = await loadTarget(trx, orgId, userId);
    if (target.user_id !== actor.userId) {
      if (target.status !== 'active') {
        throw new AppError(
          'TARGET_SUSPENDED',
          'Ownership can only go to an active member: reactivate the member first.',
        );
      }
      const now = deps.clock.now();
      await insertAuditEvents(trx, await moveOwnership(deps, ctx, trx, actor, target, now));
    }
    const [previousOwner, newOwner] = await Promise.all([
      memberView(trx, orgId, actor.userId),
      memberView(trx, orgId, target.user_id),
    ]);
    return { previousOwner, newOwner };
  });
}

/**
 * Rules 4, 8 and 12: removal needs `members:remove` and the ceiling over the member's role, except
 * for leaving (removing oneself); the owner cannot be removed. Keys and team memberships go with
 * the membership.
 */
export async function removeMember(
  deps: DomainDeps,
  ctx: RequestContext,
  orgId: string,
  userId: string,
  pre: Precondition = {},
): Promise<void> {
  await inOrganization(deps, ctx, orgId, async (trx, actor) => {
    const leaving = userId === actor.userId;
    if (!leaving) requirePermission(actor, 'members:remove');
    const target = await loadTarget(trx, orgId, userId, pre);
    if (target.role_id === OWNER_ROLE_ID) {
      throw new AppError(
        'OWNER_REQUIRED',
        'The owner cannot be removed: transfer ownership first.',
      );
    }
    if (!leaving) {
      requireWithinCeiling(
        actor,
        target.role_permissions,
        `Removing a member with the role ${target.role_name}`,
      );
    }
    const teamIds = await teamIdsOf(trx, orgId, userId);
    if (!(await deleteMember(trx, orgId, userId, target.version))) throw preconditionFailed();
    const now = deps.clock.now();
    // The member counts of their role and teams changed.
    await touchRoles(trx, orgId, [target.role_id], now);
    await touchTeams(trx, orgId, teamIds, now);
    await insertAuditEvents(trx, [
      auditEvent(deps, ctx, orgId, now, {
        action: 'member.removed',
        targetUserId: userId,
        before: { roleId: target.role_id, status: target.status, email: target.email },
        after: null,
      }),
    ]);
  });
}
