import { onUniqueViolation } from '../storage/errors.js';
import { reassignRole, touchMembers } from '../storage/members.repository.js';
import {
  pendingInvitationsOffering,
  reofferPendingInvitations,
} from '../storage/invitations.repository.js';
import {
  deleteRole as deleteRoleRow,
  findRole,
  findRoleByName,
  insertRoles,
  makeDefaultRole,
  touchRoles,
  updateRole as updateRoleRow,
  type RoleRecord,
} from '../storage/roles.repository.js';
import type { Trx } from '../storage/database.js';
import { inOrganization, requirePermission, requireWithinCeiling, type Actor } from './access.js';
import type { AuditChange } from './audit.js';
import type { DomainDeps, RequestContext } from './context.js';
import { AppError, invalid, notFound } from '../errors.js';
import { preconditionHolds, type Precondition } from './members.service.js';
import type { AuditSnapshot, Role } from './model.js';
import {
  CUSTOM_ROLE_RANK,
  DEFAULT_ROLE_ID,
  OWNER_ROLE_ID,
  type Permission,
} from './permissions.js';
import { requireKnownPermissions } from './permissions.service.js';
import { toRole } from './representations.js';

const roleNameTaken = () =>
  new AppError('ROLE_NAME_TAKEN', 'Another role of this organization already has this name.');

const builtInRole = () =>
  new AppError('BUILT_IN_ROLE', 'Built-in roles are read-only; create a custom role instead.');

const rolePreconditionFailed = () =>
  new AppError(
    'PRECONDITION_FAILED',
    'The role has changed since you read it (If-Match does not match its ETag); read it again.',
  );

async function loadCustomRole(
  trx: Trx,
  actor: Actor,
  orgId: string,
  roleId: string,
  pre: Precondition,
) {
  requirePermission(actor, 'roles:manage');
  const role = await findRole(trx, orgId, roleId);
  if (!role) throw notFound('The role');
  if (!preconditionHolds(pre, role.version)) {
    throw rolePreconditionFailed();
  }
  if (role.built_in) throw builtInRole();
  return role;
}

async function requireFreeName(trx: Trx, orgId: string, name: string, except?: string) {
  const clash = await findRoleByName(trx, orgId, name);
  if (clash && clash.id !== except) throw roleNameTaken();
}

async function roleView(trx: Trx, orgId: string, roleId: string): Promise<Role> {
  return toRole((await findRole(trx, orgId, roleId))!);
}

function snapshot(
  role: Pick<RoleRecord, 'name' | 'description' | 'permissions' | 'is_default'>,
): AuditSnapshot {
  return {
    name: role.name,
    description: role.description,
    permissions: role.permissions,
    isDefault: role.is_default,
  };
}

/**
 * Moves the organization's default role to `roleId` and returns one `role.updated` event for
 * each role whose `isDefault` flipped, except `reported` (whose own event already says so).
 */
async function moveDefault(
  deps: DomainDeps,
  ctx: RequestContext,
  trx: Trx,
  orgId: string,
  roleId: string,
  now: Date,
  reported?: string,
): Promise<AuditChange[]> {
  const { cleared, set } = await makeDefaultRole(trx, orgId, roleId, now);
  const flips = [
    ...cleared.map((id) => ({ id, isDefault: false })),
    ...(set ? [{ id: roleId, isDefault: true }] : []),
  ];
  return flips
    .filter((flip) => flip.id !== reported)
    .map((flip) => ({
      action: 'role.updated',
      targetId: flip.id,
      before: { isDefault: !flip.isDefault },
      after: { isDefault: flip.isDefault },
    }));
}

const translateNameClash = <T>(work: () => Promise<T>) =>
  onUniqueViolation('roles_name_unique', roleNameTaken, work);

export interface NewRole {
  name: string;
  description?: string | null;
  permissions: Permission[];
  isDefault?: boolean;
}

/** Rule 9: `roles:manage`, and only with permissions the actor holds (rule 2). */
export async function createRole(
  deps: DomainDeps,
  ctx: RequestContext,
  orgId: string,
  input: NewRole,
): Promise<Role> {
  return translateNameClash(() =>
    inOrganization(deps, ctx, orgId, async (trx, actor, _org, { now, audit }) => {
      requirePermission(actor, 'roles:manage');
      await requireKnownPermissions(trx, input.permissions, '/permissions');
      requireWithinCeiling(actor, input.permissions, 'The new role');
      await requireFreeName(trx, orgId, input.name);
      const id = deps.ids.next('role');
      const permissions = [...new Set(input.permissions)];
      await insertRoles(trx, [
        {
          org_id: orgId,
          id,
          name: input.name,
          description: input.description ?? null,
          permissions,
          built_in: false,
          is_default: false,
          rank: CUSTOM_ROLE_RANK,
          created_at: now,
          updated_at: now,
        },
      ]);
      const others = input.isDefault ? await moveDefault(deps, ctx, trx, orgId, id, now, id) : [];
      const role = await roleView(trx, orgId, id);
      audit(
        {
          action: 'role.created',
          targetId: id,
          before: null,
          after: snapshot({ ...role, is_default: role.isDefault }),
        },
        ...others,
      );
      return role;
    }),
  );
}

export interface RoleChange {
  name?: string;
  description?: string | null;
  permissions?: Permission[];
  isDefault?: boolean;
}

/**
 * Rule 9: built-in roles are read-only; the actor must hold every permission the role has now
 * and every one it is given (so nobody edits a role they hold to give themselves more). Holders
 * act with the new permissions from their very next request.
 */
export async function updateRole(
  deps: DomainDeps,
  ctx: RequestContext,
  orgId: string,
  roleId: string,
  change: RoleChange,
  pre: Precondition = {},
): Promise<Role> {
  return translateNameClash(() =>
    inOrganization(deps, ctx, orgId, async (trx, actor, _org, { now, audit }) => {
      const role = await loadCustomRole(trx, actor, orgId, roleId, pre);
      requireWithinCeiling(actor, role.permissions, `Editing the role ${role.name}`);
      if (change.permissions) {
        await requireKnownPermissions(trx, change.permissions, '/permissions');
        requireWithinCeiling(actor, change.permissions, 'The role as edited');
      }

      const changes: Parameters<typeof updateRoleRow>[3] = {};
      if (change.name !== undefined && change.name !== role.name) {
        await requireFreeName(trx, orgId, change.name, roleId);
        changes.name = change.name;
      }
      if (change.description !== undefined && change.description !== role.description) {
        changes.description = change.description;
      }
      if (change.permissions !== undefined) {
        const permissions = [...new Set(change.permissions)];
        const same =
          permissions.length === role.permissions.length &&
          permissions.every((p) => role.permissions.includes(p));
        if (!same) changes.permissions = permissions;
      }
      const defaultChanges = change.isDefault !== undefined && change.isDefault !== role.is_default;
      if (Object.keys(changes).length === 0 && !defaultChanges) return toRole(role);
      const fieldsChange = Object.keys(changes).length > 0;
      if (fieldsChange && !(await updateRoleRow(trx, orgId, roleId, changes, now, role.version))) {
        throw rolePreconditionFailed();
      }
      // Holders show the role's name and permissions.
      if (changes.name !== undefined || changes.permissions !== undefined) {
        await touchMembers(trx, orgId, { roleId }, now);
      }
      // Giving up the default hands it back to the built-in member role.
      const others = defaultChanges
        ? await moveDefault(
            deps,
            ctx,
            trx,
            orgId,
            change.isDefault ? roleId : DEFAULT_ROLE_ID,
            now,
            roleId,
          )
        : [];
      const updated = await roleView(trx, orgId, roleId);
      const before = snapshot(role);
      const after = snapshot({ ...updated, is_default: updated.isDefault });
      const changed = (Object.keys(after) as (keyof AuditSnapshot)[]).filter(
        (key) => JSON.stringify(before[key]) !== JSON.stringify(after[key]),
      );
      audit(
        {
          action: 'role.updated',
          targetId: roleId,
          before: Object.fromEntries(changed.map((k) => [k, before[k]])),
          after: Object.fromEntries(changed.map((k) => [k, after[k]])),
        },
        ...others,
      );
      return updated;
    }),
  );
}

/**
 * Rule 9: a role still held, or offered by a pending invitation, cannot be deleted (ROLE_IN_USE)
 * unless `reassignTo` names a role the actor may assign (rule 2); then the holders move, the
 * pending invitations offer that role instead, and the role goes, in one transaction, with one
 * audit event per moved member.
 */
export async function deleteRole(
  deps: DomainDeps,
  ctx: RequestContext,
  orgId: string,
  roleId: string,
  options: { reassignTo?: string },
  pre: Precondition = {},
): Promise<void> {
  await inOrganization(deps, ctx, orgId, async (trx, actor, _org, { now, audit }) => {
    const role = await loadCustomRole(trx, actor, orgId, roleId, pre);
    requireWithinCeiling(actor, role.permissions, `Deleting the role ${role.name}`);
    const events: AuditChange[] = [];

    const offered = await pendingInvitationsOffering(trx, orgId, roleId, now);
    if (role.member_count > 0 || offered > 0) {
      if (options.reassignTo === undefined) {
        throw new AppError(
          'ROLE_IN_USE',
          `${inUse(role.member_count, offered)}: pass ?reassignTo= to move them first.`,
        );
      }
      const target = await resolveReassignment(trx, actor, orgId, role, options.reassignTo);
      if (offered > 0) await reofferPendingInvitations(trx, orgId, roleId, target.id, now);
      const moved = await reassignRole(trx, orgId, roleId, target.id, now);
      await touchRoles(trx, orgId, [target.id], now);
      for (const userId of moved) {
        events.push({
          action: 'member.role_changed',
          targetUserId: userId,
          before: { roleId },
          after: { roleId: target.id },
        });
      }
    } else if (options.reassignTo !== undefined) {
      await resolveReassignment(trx, actor, orgId, role, options.reassignTo);
    }

    if (!(await deleteRoleRow(trx, orgId, roleId, role.version))) throw rolePreconditionFailed();
    if (role.is_default)
      events.push(...(await moveDefault(deps, ctx, trx, orgId, DEFAULT_ROLE_ID, now)));
    events.push({
      action: 'role.deleted',
      targetId: roleId,
      before: snapshot(role),
      after: null,
    });
    audit(...events);
  });
}

/** Who still uses a role: its members, and the pending invitations offering it. */
function inUse(members: number, invitations: number): string {
  const held = `${members} member(s) hold this role`;
  if (invitations === 0) return held;
  const offered = `${invitations} pending invitation(s) offer`;
  return members === 0 ? `${offered} this role` : `${held} and ${offered} it`;
}

async function resolveReassignment(
  trx: Trx,
  actor: Actor,
  orgId: string,
  role: RoleRecord,
  reassignTo: string,
) {
  const problem = (message: string) => invalid('query', 'reassignTo', message);
  if (reassignTo === role.id)
    throw problem('Members cannot be reassigned to the role being deleted.');
  if (reassignTo === OWNER_ROLE_ID) throw problem('Nobody becomes owner by reassignment.');
  const target = await findRole(trx, orgId, reassignTo);
  if (!target) throw problem('No role with this id exists in the organization.');
  requireWithinCeiling(actor, target.permissions, `Assigning the role ${target.name}`);
  return target;
}
