import { insertAuditEvents } from '../storage/audit.repository.js';
import { onUniqueViolation } from '../storage/errors.js';
import { insertMember, findMember } from '../storage/members.repository.js';
import {
  findOrganization,
  insertOrganization,
  updateOrganization as updateOrganizationRow,
} from '../storage/organizations.repository.js';
import { insertRoles } from '../storage/roles.repository.js';
import { runTransaction } from '../storage/transaction.js';
import { inOrganization, readInOrganization, requirePermission } from './access.js';
import { auditEvent } from './audit.js';
import type { DomainDeps, RequestContext } from './context.js';
import { AppError } from './errors.js';
import { mintKey } from './api-keys.service.js';
import type { ApiKeyCreated, Member, Organization } from './model.js';
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
  if (ctx.principal.kind !== 'platform') {
    throw new AppError(
      'INSUFFICIENT_PERMISSION',
      'Only the platform key can create organizations.',
    );
  }
  const orgId = deps.ids.next('org');
  const now = deps.clock.now();
  return onUniqueViolation('organizations_slug_key', slugTaken, () =>
    runTransaction(deps.db, async (trx) => {
      await insertOrganization(trx, {
        id: orgId,
        name: input.name,
        slug: input.slug,
        created_at: now,
        updated_at: now,
      });
      await insertRoles(
        trx,
        BUILT_IN_ROLES.map((role) => ({
          org_id: orgId,
          id: role.id,
          name: role.name,
          description: role.description,
          permissions: [...role.permissions],
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
      await insertAuditEvents(trx, [
        auditEvent(deps, ctx, orgId, now, {
          action: 'organization.created',
          targetId: orgId,
          before: null,
          after: { name: input.name, slug: input.slug },
        }),
        auditEvent(deps, ctx, orgId, now, {
          action: 'member.added',
          targetUserId: owner.userId,
          before: null,
          after: { roleId: OWNER_ROLE_ID, status: 'active', email: owner.email },
        }),
        auditEvent(deps, ctx, orgId, now, keyCreated),
      ]);
      await ctx.beforeCommit?.(trx);
      const org = await findOrganization(trx, orgId);
      const ownerRecord = await findMember(trx, orgId, owner.userId);
      return {
        organization: toOrganization(org!),
        owner: toMember(ownerRecord!, []),
        apiKey,
      };
    }),
  );
}

export async function getOrganization(
  deps: DomainDeps,
  ctx: RequestContext,
  orgId: string,
): Promise<Organization> {
  return readInOrganization(deps, ctx, orgId, async (trx, actor) => {
    requirePermission(actor, 'org:read');
    return toOrganization((await findOrganization(trx, orgId))!);
  });
}

export async function updateOrganization(
  deps: DomainDeps,
  ctx: RequestContext,
  orgId: string,
  patch: { name?: string; slug?: string },
): Promise<Organization> {
  return onUniqueViolation('organizations_slug_key', slugTaken, () =>
    inOrganization(deps, ctx, orgId, async (trx, actor, org) => {
      requirePermission(actor, 'org:manage');
      const changes: { name?: string; slug?: string } = {};
      if (patch.name !== undefined && patch.name !== org.name) changes.name = patch.name;
      if (patch.slug !== undefined && patch.slug !== org.slug) changes.slug = patch.slug;
      if (Object.keys(changes).length === 0) return toOrganization(org);
      const now = deps.clock.now();
      const updated = await updateOrganizationRow(trx, orgId, changes, now);
      await insertAuditEvents(trx, [
        auditEvent(deps, ctx, orgId, now, {
          action: 'organization.updated',
          targetId: orgId,
          before: Object.fromEntries(
            Object.keys(changes).map((k) => [k, org[k as 'name' | 'slug']]),
          ),
          after: changes,
        }),
      ]);
      return toOrganization(updated);
    }),
  );
}
