import { onUniqueViolation } from '../storage/errors.js';
import { insertMember, findMember } from '../storage/members.repository.js';
import {
  deleteOrganizationRows,
  findOrganization,
  insertOrganization,
  listOrganizations as listOrganizationRows,
  listUserMemberships as listUserMembershipRows,
  updateOrganization as updateOrganizationRow,
} from '../storage/organizations.repository.js';
import { seatCounts, seatCountsFact } from '../storage/invitations.repository.js';
import { lockCatalogue, productPermissionsOf } from '../storage/permissions.repository.js';
import { insertRoles } from '../storage/roles.repository.js';
import {
  inOrganization,
  platformChange,
  readInOrganization,
  requireAuthenticated,
  requirePermission,
  requirePlatform,
} from './access.js';
import { decodeCursor, encodeCursor, keyString, pageOf } from './cursor.js';
import { preconditionHolds, type Precondition } from './members.service.js';
import type { DomainDeps, RequestContext } from './context.js';
import { AppError } from '../errors.js';
import { mintKey } from './api-keys.service.js';
import type { ApiKeyCreated, Member, Organization, Page, UserMembership } from './model.js';
import { BUILT_IN_ROLES, DEFAULT_ROLE_ID, OWNER_ROLE_ID } from './permissions.js';
import { toMember, toOrganization } from './representations.js';

const slugTaken = () => new AppError('SLUG_TAKEN', 'Another organization already uses this slug.');

export interface NewOrganization {
  name: string;
  slug: string;
  owner: { userId: string; email: string; name?: string | null; imageUrl?: string | null };
}

/**
 * Platform key only. Creates the organization with its built-in roles, its first owner and the
 * owner's first API key, all in one transaction.
 */
export async function createOrganization(
  deps: DomainDeps,
  ctx: RequestContext,
  input: NewOrganization,
): Promise<{ organization: Organization; owner: Member; apiKey: ApiKeyCreated }> {
  const orgId = deps.ids.next('org');
  return onUniqueViolation('organizations_slug_key', slugTaken, () =>
    platformChange(
      deps,
      ctx,
      orgId,
      'Only the platform key can create organizations.',
      async (trx, { now, audit }) => {
        await insertOrganization(trx, {
          id: orgId,
          name: input.name,
          slug: input.slug,
          created_at: now,
          updated_at: now,
        });
        // Built-in roles hold the product permissions the catalogue includes them in.
        await lockCatalogue(trx, 'shared');
        const product = await Promise.all(
          BUILT_IN_ROLES.map((role) => productPermissionsOf(trx, role.id)),
        );
        await insertRoles(
          trx,
          BUILT_IN_ROLES.map((role, i) => ({
            org_id: orgId,
            id: role.id,
            name: role.name,
            description: role.description,
            permissions: [...role.permissions, ...product[i]!],
            built_in: true,
            is_default: role.id === DEFAULT_ROLE_ID,
            rank: role.rank,
            created_at: now,
            updated_at: now,
          })),
        );
        const { owner } = input;
        await insertMember(trx, {
          org_id: orgId,
          user_id: owner.userId,
          email: owner.email,
          name: owner.name ?? null,
          image_url: owner.imageUrl ?? null,
          role_id: OWNER_ROLE_ID,
          status: 'active',
          joined_at: now,
          updated_at: now,
        });
        const { apiKey, change: keyCreated } = await mintKey(
          deps,
          trx,
          orgId,
          owner.userId,
          'Owner key',
          now,
        );
        audit(
          {
            action: 'organization.created',
            targetId: orgId,
            before: null,
            after: { name: input.name, slug: input.slug },
          },
          {
            action: 'member.added',
            targetUserId: owner.userId,
            before: null,
            after: { roleId: OWNER_ROLE_ID, status: 'active', email: owner.email },
          },
          keyCreated,
        );
        const org = await findOrganization(trx, orgId);
        const ownerRecord = await findMember(trx, orgId, owner.userId);
        return {
          organization: toOrganization(org!, { members: 1, pending: 0 }),
          owner: toMember(ownerRecord!),
          apiKey,
        };
      },
    ),
  );
}

export async function getOrganization(
  deps: DomainDeps,
  ctx: RequestContext,
  orgId: string,
): Promise<Organization> {
  return readInOrganization(
    deps,
    ctx,
    orgId,
    (_db, actor, { seats }, org) => {
      requirePermission(actor, 'org:read');
      return toOrganization(org, seats);
    },
    { seats: seatCountsFact(deps.db, orgId, deps.clock.now()) },
  );
}

export async function updateOrganization(
  deps: DomainDeps,
  ctx: RequestContext,
  orgId: string,
  patch: { name?: string; slug?: string; maxMembers?: number | null },
): Promise<Organization> {
  return onUniqueViolation('organizations_slug_key', slugTaken, () =>
    inOrganization(deps, ctx, orgId, async (trx, actor, org, { now, audit }) => {
      if (patch.name !== undefined || patch.slug !== undefined) {
        requirePermission(actor, 'org:manage');
      }
      // Seats are billing's: `billing:manage` (only the owner holds it among the built-in roles).
      if (patch.maxMembers !== undefined) requirePermission(actor, 'billing:manage');
      const changes: { name?: string; slug?: string; max_members?: number | null } = {};
      if (patch.name !== undefined && patch.name !== org.name) changes.name = patch.name;
      if (patch.slug !== undefined && patch.slug !== org.slug) changes.slug = patch.slug;
      if (patch.maxMembers !== undefined && patch.maxMembers !== (org.max_members ?? null)) {
        changes.max_members = patch.maxMembers;
      }
      const seats = () => seatCounts(trx, orgId, now);
      if (Object.keys(changes).length === 0) return toOrganization(org, await seats());
      const updated = await updateOrganizationRow(trx, orgId, changes, now);
      const shown = (row: typeof org) => ({
        ...('name' in changes ? { name: row.name } : {}),
        ...('slug' in changes ? { slug: row.slug } : {}),
        ...('max_members' in changes ? { maxMembers: row.max_members ?? null } : {}),
      });
      audit({
        action: 'organization.updated',
        targetId: orgId,
        before: shown(org),
        after: shown(updated),
      });
      return toOrganization(updated, await seats());
    }),
  );
}

/** Every organization of the deployment, platform key only (a user's own: listUserMemberships). */
export async function listOrganizations(
  deps: DomainDeps,
  ctx: RequestContext,
  query: { q?: string; limit: number; cursor?: string },
): Promise<Page<Organization>> {
  await requirePlatform(deps.db, ctx, 'Only the platform key lists every organization.');
  const list = `organizations:${query.q ?? ''}`;
  const after =
    query.cursor === undefined ? undefined : keyString(decodeCursor(query.cursor, list, ''), 0);
  const rows = await listOrganizationRows(
    deps.db,
    { q: query.q },
    query.limit + 1,
    deps.clock.now(),
    after,
  );
  return pageOf(
    rows,
    query.limit,
    (row) => toOrganization(row, { members: row.member_count, pending: row.pending_count }),
    (row) => encodeCursor(list, '', [row.id]),
  );
}

/**
 * The owner deletes the organization and everything of it in one transaction (directly, or the
 * platform key on their behalf); `If-Match` names the version deleted.
 */
export async function deleteOrganization(
  deps: DomainDeps,
  ctx: RequestContext,
  orgId: string,
  pre: Precondition = {},
): Promise<void> {
  await inOrganization(deps, ctx, orgId, async (trx, actor, org) => {
    if (!actor.isOwner) {
      throw new AppError('INSUFFICIENT_PERMISSION', 'Only the owner can delete the organization.');
    }
    if (!preconditionHolds(pre, org.version)) {
      throw new AppError(
        'PRECONDITION_FAILED',
        'The organization has changed since you read it (If-Match does not match its ETag).',
      );
    }
    await deleteOrganizationRows(trx, orgId);
  });
}

/** A user's organizations (an organization switcher): the platform key, or that user's token. */
export async function listUserMemberships(
  deps: DomainDeps,
  ctx: RequestContext,
  userId: string,
  query: { limit: number; cursor?: string },
): Promise<Page<UserMembership>> {
  const caller = await requireAuthenticated(deps.db, ctx);
  const allowed =
    caller.kind === 'platform' ||
    (caller.kind === 'user' && (caller.via === 'platform' || caller.userId === userId));
  if (!allowed) {
    throw new AppError(
      'INSUFFICIENT_PERMISSION',
      "Only the platform key, or the user's own access token, lists a user's memberships.",
    );
  }
  const list = `memberships:${userId}`;
  const after =
    query.cursor === undefined ? undefined : keyString(decodeCursor(query.cursor, list, ''), 0);
  const rows = await listUserMembershipRows(deps.db, userId, query.limit + 1, after);
  return pageOf(
    rows,
    query.limit,
    (row) => ({
      organization: { id: row.org_id, name: row.org_name, slug: row.org_slug },
      role: { id: row.role_id, name: row.role_name },
      status: row.status,
      joinedAt: new Date(row.joined_at).toISOString(),
    }),
    (row) => encodeCursor(list, '', [row.org_id]),
  );
}
