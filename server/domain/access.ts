import { keyExists } from '../storage/api-keys.repository.js';
import { findMember, type MemberRecord } from '../storage/members.repository.js';
import { lockOrganization } from '../storage/organizations.repository.js';
import type { Executor, Trx } from '../storage/database.js';
import type { OrganizationRow } from '../storage/schema.js';
import { runTransaction } from '../storage/transaction.js';
import type { DomainDeps, RequestContext } from './context.js';
import { AppError, notFound } from './errors.js';
import { OWNER_ROLE_ID, type Permission } from './permissions.js';

/** The calling member, as the database says now: a role change applies to the very next request. */
export interface Actor {
  userId: string;
  apiKeyId: string;
  roleId: string;
  permissions: ReadonlySet<Permission>;
  isOwner: boolean;
}

export const organizationNotFound = () => notFound('The organization');

/**
 * Rule 7 (tenancy): anyone who is not an active member of the organization gets the same 404 as
 * for an organization that does not exist. Rule 8: a suspended member is refused with 403.
 */
export async function loadActor(ex: Executor, ctx: RequestContext, orgId: string): Promise<Actor> {
  const { principal } = ctx;
  if (!isMemberOf(ctx, orgId) || principal.kind !== 'member') throw organizationNotFound();
  const [record, key] = await Promise.all([
    findMember(ex, orgId, principal.userId),
    keyExists(ex, principal.apiKeyId),
  ]);
  if (!record) throw organizationNotFound();
  // A key revoked while this request was on its way acts no more.
  if (!key) throw new AppError('UNAUTHENTICATED', 'The API key is not valid.');
  if (record.status !== 'active') {
    throw new AppError(
      'MEMBER_SUSPENDED',
      'Your membership is suspended; your API keys are refused.',
    );
  }
  return toActor(record, principal.apiKeyId);
}

function toActor(record: MemberRecord, apiKeyId: string): Actor {
  return {
    userId: record.user_id,
    apiKeyId,
    roleId: record.role_id,
    permissions: new Set(record.role_permissions as Permission[]),
    isOwner: record.role_id === OWNER_ROLE_ID,
  };
}

/** Whether the caller's key belongs to this organization (checked before any lock is taken). */
function isMemberOf(ctx: RequestContext, orgId: string): boolean {
  return ctx.principal.kind === 'member' && ctx.principal.organizationId === orgId;
}

/** Rule 1 and its kin: the actor's current role must hold the permission. */
export function requirePermission(actor: Actor, permission: Permission): void {
  if (!actor.permissions.has(permission)) {
    throw new AppError(
      'INSUFFICIENT_PERMISSION',
      `This operation needs the permission ${permission}, which your role does not hold.`,
    );
  }
}

/**
 * Rule 2 (privilege ceiling): the actor can neither grant nor take away a permission it does
 * not hold. The owner holds everything and passes.
 */
export function requireWithinCeiling(actor: Actor, permissions: Iterable<string>, what: string) {
  if (actor.isOwner) return;
  const missing = [...new Set(permissions)].filter((p) => !actor.permissions.has(p as Permission));
  if (missing.length > 0) {
    throw new AppError(
      'PRIVILEGE_CEILING',
      `${what} involves permissions you do not hold: ${missing.sort().join(', ')}.`,
    );
  }
}

/**
 * Runs a write inside one organization: opens the transaction, takes the organization's lock
 * (so concurrent writes to it are serialized), and loads the actor under that lock.
 */
export async function inOrganization<T>(
  deps: DomainDeps,
  ctx: RequestContext,
  orgId: string,
  work: (trx: Trx, actor: Actor, org: OrganizationRow) => Promise<T>,
): Promise<T> {
  // Tenancy first: a stranger's request never takes another organization's lock.
  if (!isMemberOf(ctx, orgId)) throw organizationNotFound();
  return runTransaction(deps.db, async (trx) => {
    const org = await lockOrganization(trx, orgId);
    if (!org) throw organizationNotFound();
    const actor = await loadActor(trx, ctx, orgId);
    const result = await work(trx, actor, org);
    await ctx.beforeCommit?.(trx);
    return result;
  });
}

/**
 * As `inOrganization`, for the operations the platform key may also perform: the actor is null
 * when the platform key calls (it is a member of nothing, but may manage keys).
 */
export async function inOrganizationOrPlatform<T>(
  deps: DomainDeps,
  ctx: RequestContext,
  orgId: string,
  work: (trx: Trx, actor: Actor | null) => Promise<T>,
): Promise<T> {
  if (ctx.principal.kind !== 'platform' && !isMemberOf(ctx, orgId)) throw organizationNotFound();
  return runTransaction(deps.db, async (trx) => {
    if (!(await lockOrganization(trx, orgId))) throw organizationNotFound();
    const actor = ctx.principal.kind === 'platform' ? null : await loadActor(trx, ctx, orgId);
    const result = await work(trx, actor);
    await ctx.beforeCommit?.(trx);
    return result;
  });
}

/** Reads run without the lock, on a consistent snapshot of one transaction. */
export async function readInOrganization<T>(
  deps: DomainDeps,
  ctx: RequestContext,
  orgId: string,
  work: (ex: Trx, actor: Actor) => Promise<T>,
): Promise<T> {
  return runTransaction(deps.db, async (trx) => work(trx, await loadActor(trx, ctx, orgId)), {
    isolation: 'repeatable read',
  });
}
