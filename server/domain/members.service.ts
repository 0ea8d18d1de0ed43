import {
  deleteMember,
  findMember,
  insertMember,
  currentMemberFact,
  memberFact,
  membersPage,
  nextMemberKeyFact,
  renderedMembersFact,
  type MembersPage,
  updateMember,
  updateMemberWrite,
  type MemberFilter,
  type MemberRecord,
} from '../storage/members.repository.js';
import {
  findDefaultRole,
  findRole,
  roleRefFact,
  touchRoles,
  touchRolesWrite,
} from '../storage/roles.repository.js';
import { sql } from 'kysely';
import { preparedRead, unlessAtRevision } from '../storage/access.repository.js';
import { touchTeams } from '../storage/teams.repository.js';
import type { Executor, Trx } from '../storage/database.js';
import {
  inOrganization,
  readInOrganization,
  requirePermission,
  requireWithinCeiling,
  runStep,
  step,
  type Actor,
  type Step,
} from './access.js';
import { requireSeat } from './seats.js';
import type { AuditChange } from './audit.js';
import type { DomainDeps, KeptMembersPage, RequestContext } from './context.js';
import { decodeCursor, encodeCursor, keyString } from './cursor.js';
import { AppError, invalid, notFound } from '../errors.js';
import type { Member, MemberStatus } from './model.js';
import { FORMER_OWNER_ROLE_ID, OWNER_ROLE_ID } from './permissions.js';
import { JsonText, type RenderedPage } from './json-text.js';
import { toMember } from './representations.js';
import { RENDERABLE_URL } from './text.js';

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

async function memberView(ex: Executor, orgId: string, userId: string): Promise<Member> {
  const record = await findMember(ex, orgId, userId);
  if (!record) throw memberNotFound();
  return toMember(record);
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

/** Rule 1's read side: `members:read`. One statement: the actor, tenancy and the member. */
export async function getMember(
  deps: DomainDeps,
  ctx: RequestContext,
  orgId: string,
  userId: string,
): Promise<Member> {
  return readInOrganization(
    deps,
    ctx,
    orgId,
    (_db, actor, { target }) => {
      requirePermission(actor, 'members:read');
      if (!target) throw memberNotFound();
      return toMember(target);
    },
    askMember({ userId }),
  );
}

const askMember = preparedRead((ex, orgId, p: { userId: string }) => ({
  target: memberFact(ex, orgId, p.userId),
}));

const askCurrentMember = preparedRead((ex, orgId) => ({ me: currentMemberFact(ex, orgId) }));

/** Any active member may read their own membership; one statement. */
export async function getCurrentMember(
  deps: DomainDeps,
  ctx: RequestContext,
  orgId: string,
): Promise<Member> {
  return readInOrganization(
    deps,
    ctx,
    orgId,
    (_db, actor, { me }) => {
      // The caller's own membership (the platform key, acting as itself, has none).
      if (!actor || !me || me.user_id !== actor.userId) throw memberNotFound();
      return toMember(me);
    },
    askCurrentMember({}),
  );
}

export interface ListMembersQuery extends MemberFilter {
  limit: number;
  cursor?: string;
  /** Render the page even when one kept from the organization's current revision could be sent. */
  renderAnew?: boolean;
}

/**
 * One statement: the actor, tenancy and the page with each member's role and teams. A page this
 * process rendered before is sent again when the database says, in that statement, that the
 * organization is still at the revision it was rendered at (and is rendered anew otherwise).
 */
export async function listMembers(
  deps: DomainDeps,
  ctx: RequestContext,
  orgId: string,
  query: ListMembersQuery,
): Promise<RenderedPage<Member>> {
  const after =
    query.cursor === undefined
      ? undefined
      : keyString(decodeCursor(query.cursor, 'members', orgId), 0);
  const page = membersPage(query, query.limit, RENDERABLE_URL, after);
  const cacheKey = `${orgId} ${JSON.stringify(page)}`;
  const kept = query.renderAnew ? undefined : deps.membersPages?.get(cacheKey);
  return readInOrganization(
    deps,
    ctx,
    orgId,
    (_db, actor, { members, lastKey }, org) => {
      requirePermission(actor, 'members:read');
      let rendered: KeptMembersPage;
      if (members !== null) {
        rendered = { text: members, lastKey };
        deps.membersPages?.set(cacheKey, org.revision, rendered);
      } else if (kept) {
        rendered = kept.value; // the organization is still at the revision it was rendered at
      } else {
        throw new Error('a page of members was neither rendered nor kept');
      }
      return {
        data: new JsonText<Member[]>(rendered.text),
        nextCursor:
          rendered.lastKey === null ? null : encodeCursor('members', orgId, [rendered.lastKey]),
      };
    },
    askMembersPage({ ...page, keptRevision: kept?.revision ?? '' }),
  );
}

/**
 * A page of members: one statement per combination of the filters given and page size. The page
 * is rendered unless the organization is at `keptRevision` (see `unlessAtRevision`).
 */
const askMembersPage = preparedRead(
  (ex, orgId, page: MembersPage & { keptRevision: string }) => ({
    members: unlessAtRevision(orgId, page.keptRevision, renderedMembersFact(ex, orgId, page)),
    lastKey: unlessAtRevision(orgId, page.keptRevision, nextMemberKeyFact(ex, orgId, page)),
  }),
  ['limit'],
);

export interface NewMember {
  userId: string;
  email: string;
  name?: string | null;
  imageUrl?: string | null;
  roleId?: string;
}

/**
 * Rule 13: nobody joins as owner; without roleId the organization's default role applies. Rule 2
 * for the role given.
 */
export async function addMember(
  deps: DomainDeps,
  ctx: RequestContext,
  orgId: string,
  input: NewMember,
): Promise<Member> {
  // Before anything else, whoever asks: the contract refuses it at the door too, so a preview
  // of this write answers as the write does.
  if (input.roleId === OWNER_ROLE_ID) {
    throw invalid(
      'body',
      '/roleId',
      'Nobody joins as owner: add the member with another role, then transfer ownership.',
    );
  }
  return runStep(deps, ctx, orgId, addMemberStep(orgId, input));
}

/** `addMember`'s rules and writes, alone or as an item of a batch. */
export function addMemberStep(orgId: string, input: NewMember): Step<Member> {
  return step(async (trx, actor, org, { now, audit }) => {
    requirePermission(actor, 'members:invite');
    const role =
      input.roleId === undefined
        ? await findDefaultRole(trx, orgId)
        : await findRole(trx, orgId, input.roleId);
    if (!role) throw invalid('body', '/roleId', 'No role with this id exists in the organization.');
    requireWithinCeiling(actor, role.permissions, `Granting the role ${role.name}`);
    if (await findMember(trx, orgId, input.userId)) {
      throw new AppError('MEMBER_EXISTS', 'This user is already a member of the organization.');
    }
    await requireSeat(trx, org, now, 1);
    const joined = joining(orgId, input, role, now);
    await insertMember(trx, joined.row);
    await touchRoles(trx, orgId, [role.id], now); // its memberCount changed
    audit(joined.event);
    return joined.member([]);
  });
}

/**
 * A person joining as an active member with `role`: the membership row to write, its
 * `member.added` event, and the member as answered (with its teams). addMember and
 * acceptInvitation both admit members through it.
 */
export function joining(
  orgId: string,
  user: {
    userId: string;
    email: string;
    name?: string | null | undefined;
    imageUrl?: string | null | undefined;
  },
  role: { id: string; name: string; permissions: MemberRecord['role_permissions'] },
  now: Date,
) {
  const row = {
    org_id: orgId,
    user_id: user.userId,
    email: user.email,
    name: user.name ?? null,
    image_url: user.imageUrl ?? null,
    role_id: role.id,
    status: 'active' as const,
    joined_at: now,
    updated_at: now,
  };
  const event: AuditChange = {
    action: 'member.added',
    targetUserId: user.userId,
    before: null,
    after: { roleId: role.id, status: 'active', email: user.email },
  };
  const member = (teams: MemberRecord['teams']) =>
    toMember({
      ...row,
      role_name: role.name,
      role_permissions: role.permissions,
      teams,
      version: 1,
    });
  return { row, event, member };
}

export interface MemberChange {
  roleId?: string;
  status?: MemberStatus;
}

const noRole = sql<null>`null`;

/**
 * Rules 1–6 and 12: change a member's role and/or status in one transaction, one version step,
 * one audit event per changed field. Assigning `owner` transfers ownership (rule 3). The actor,
 * the member and the new role are read in one statement under the organization's lock; the
 * change, its audit events and the idempotency mark are written in one more.
 */
export async function changeMember(
  deps: DomainDeps,
  ctx: RequestContext,
  orgId: string,
  userId: string,
  change: MemberChange,
  pre: Precondition = {},
): Promise<Member> {
  return runStep(deps, ctx, orgId, changeMemberStep(orgId, userId, change, pre));
}

/** `updateMember`'s (and `setMemberRole`'s) rules and writes, alone or as an item of a batch. */
export function changeMemberStep(
  orgId: string,
  userId: string,
  change: MemberChange,
  pre: Precondition = {},
) {
  return step(
    async (trx, actor, _org, { now, facts, audit, defer }): Promise<Member> => {
      requirePermission(actor, 'members:manage');
      const { target } = facts;
      if (!target) throw memberNotFound();
      if (!preconditionHolds(pre, target.version)) throw preconditionFailed();
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

      const newRole = roleChanges ? facts.role : null;
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
      if (!newRole && newStatus === undefined) return toMember(target); // rule 6

      const statusChanged = (): AuditChange => ({
        action: 'member.status_changed',
        targetUserId: userId,
        before: { status: target.status },
        after: { status: finalStatus },
      });
      if (newRole?.id === OWNER_ROLE_ID) {
        const reactivation = newStatus !== undefined ? { status: newStatus } : {};
        audit(...(await moveOwnership(trx, actor, target, now, reactivation)));
        if (newStatus !== undefined) audit(statusChanged());
        return memberView(trx, orgId, userId);
      }
      defer(
        updateMemberWrite(
          trx,
          orgId,
          userId,
          {
            ...(newRole ? { role_id: newRole.id } : {}),
            ...(newStatus !== undefined ? { status: newStatus } : {}),
          },
          now,
          target.version,
        ),
        { rows: 1, otherwise: preconditionFailed },
      );
      if (newRole) {
        defer(touchRolesWrite(trx, orgId, [target.role_id, newRole.id], now)); // member counts
        audit({
          action: 'member.role_changed',
          targetUserId: userId,
          before: { roleId: target.role_id },
          after: { roleId: newRole.id },
        });
      }
      if (newStatus !== undefined) audit(statusChanged());
      return toMember({
        ...target,
        ...(newRole
          ? { role_id: newRole.id, role_name: newRole.name, role_permissions: newRole.permissions }
          : {}),
        status: finalStatus,
        updated_at: now,
        version: target.version + 1,
      });
    },
    change.roleId === undefined
      ? askTarget({ userId })
      : askTargetAndRole({ userId, roleId: change.roleId }),
  );
}

const askTarget = preparedRead((ex, orgId, p: { userId: string }) => ({
  target: memberFact(ex, orgId, p.userId),
  role: noRole,
}));

const askTargetAndRole = preparedRead((ex, orgId, p: { userId: string; roleId: string }) => ({
  target: memberFact(ex, orgId, p.userId),
  role: roleRefFact(ex, orgId, p.roleId),
}));

/**
 * Rule 3: the target becomes owner and the current owner (the actor) becomes admin, in the
 * caller's transaction; returns the two audit changes. The former owner is demoted first so the
 * one-owner index never sees two.
 */
async function moveOwnership(
  trx: Trx,
  actor: Actor,
  target: MemberRecord,
  now: Date,
  targetChanges: { status?: MemberStatus } = {},
): Promise<AuditChange[]> {
  const orgId = target.org_id;
  const owner = await findMember(trx, orgId, actor.userId);
  if (!owner || owner.role_id !== OWNER_ROLE_ID) {
    throw new AppError('INSUFFICIENT_PERMISSION', 'Only the owner can transfer ownership.');
  }
  await writeMember(trx, owner, { role_id: FORMER_OWNER_ROLE_ID }, now);
  await writeMember(trx, target, { ...targetChanges, role_id: OWNER_ROLE_ID }, now);
  await touchRoles(trx, orgId, [FORMER_OWNER_ROLE_ID, target.role_id], now);
  return [
    {
      action: 'ownership.transferred',
      targetUserId: target.user_id,
      before: { roleId: target.role_id },
      after: { roleId: OWNER_ROLE_ID },
    },
    {
      action: 'ownership.transferred',
      targetUserId: owner.user_id,
      before: { roleId: OWNER_ROLE_ID },
      after: { roleId: FORMER_OWNER_ROLE_ID },
    },
  ];
}

/** Rule 3, explicitly: only the owner may transfer; to oneself it is a no-op. */
export async function transferOwnership(
  deps: DomainDeps,
  ctx: RequestContext,
  orgId: string,
  userId: string,
): Promise<{ previousOwner: Member; newOwner: Member }> {
  return inOrganization(deps, ctx, orgId, async (trx, actor, _org, { now, audit }) => {
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
      audit(...(await moveOwnership(trx, actor, target, now)));
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
  await runStep(deps, ctx, orgId, removeMemberStep(orgId, userId, pre));
}

/** `removeMember`'s rules and writes, alone or as an item of a batch. */
export function removeMemberStep(orgId: string, userId: string, pre: Precondition = {}) {
  return step(async (trx, actor, _org, { now, audit }): Promise<null> => {
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
    const teamIds = target.teams.map((team) => team.id);
    if (!(await deleteMember(trx, orgId, userId, target.version))) throw preconditionFailed();
    // The member counts of their role and teams changed.
    await touchRoles(trx, orgId, [target.role_id], now);
    await touchTeams(trx, orgId, teamIds, now);
    audit({
      action: 'member.removed',
      targetUserId: userId,
      before: { roleId: target.role_id, status: target.status, email: target.email },
      after: null,
    });
    return null;
  });
}
