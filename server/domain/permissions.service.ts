import type { Executor } from '../storage/database.js';
import { runTransaction } from '../storage/transaction.js';
import {
  countCustomRolesHolding,
  countProductPermissions,
  deleteProductPermission,
  findProductPermission,
  listProductPermissions,
  lockCatalogue,
  lockExistingProductPermissions,
  saveProductPermission,
  setInBuiltInRoles,
} from '../storage/permissions.repository.js';
import { AppError, invalid, notFound } from '../errors.js';
import { requireAuthenticated, requirePlatform } from './access.js';
import type { DomainDeps, RequestContext } from './context.js';
import type { components } from '../../generated/api.js';
import {
  BUILT_IN_ROLES,
  isServicePermission,
  MAX_PRODUCT_PERMISSIONS,
  PERMISSION_DESCRIPTIONS,
  PERMISSIONS,
  type IncludingRole,
} from './permissions.js';

type PermissionInfo = components['schemas']['PermissionInfo'];

const INCLUDING_ROLES: readonly IncludingRole[] = ['admin', 'member', 'viewer'];

/** The built-in roles besides the owner that hold a service permission (fixed by the product). */
const includedInOf = (id: string): IncludingRole[] =>
  INCLUDING_ROLES.filter((roleId) =>
    BUILT_IN_ROLES.find((role) => role.id === roleId)!.permissions.some((p) => p === id),
  );

const ordered = (roles: readonly string[]) =>
  INCLUDING_ROLES.filter((role) => roles.includes(role));

const builtInPermission = (id: string) =>
  new AppError(
    'BUILT_IN_PERMISSION',
    `${id} is one of the service's own permissions, which are fixed; define the product's own.`,
  );

/** The catalogue: the service's permissions, then the product's; any authenticated caller. */
export async function listPermissions(
  deps: DomainDeps,
  ctx: RequestContext,
): Promise<{ data: PermissionInfo[] }> {
  await requireAuthenticated(deps.db, ctx);
  const product = await listProductPermissions(deps.db);
  return {
    data: [
      ...PERMISSIONS.map((id) => ({
        id,
        description: PERMISSION_DESCRIPTIONS[id],
        kind: 'service' as const,
        includedIn: includedInOf(id),
      })),
      ...product.map((row) => ({
        id: row.id,
        description: row.description,
        kind: 'product' as const,
        includedIn: ordered(row.included_in),
      })),
    ],
  };
}

/**
 * Product permissions, platform key only: defines or changes one. The built-in roles it is
 * included in (and the owner, who holds every permission) hold it in every organization from the
 * very next request; their versions and their members' step.
 */
export async function upsertPermission(
  deps: DomainDeps,
  ctx: RequestContext,
  id: string,
  input: { description: string; includedIn?: IncludingRole[] },
): Promise<{ created: boolean; permission: PermissionInfo }> {
  await requirePlatform(deps.db, ctx, 'Only the platform key defines permissions.');
  if (isServicePermission(id)) throw builtInPermission(id);
  const includedIn = ordered(input.includedIn ?? []);
  return runTransaction(deps.db, async (trx) => {
    await lockCatalogue(trx, 'exclusive');
    const existing = await findProductPermission(trx, id);
    if (!existing && (await countProductPermissions(trx)) >= MAX_PRODUCT_PERMISSIONS) {
      throw new AppError(
        'PERMISSION_LIMIT_REACHED',
        `The catalogue holds at most ${MAX_PRODUCT_PERMISSIONS} product permissions; delete one first.`,
      );
    }
    const now = deps.clock.now();
    const before = existing ? [...existing.included_in, 'owner'] : [];
    const after = [...includedIn, 'owner'];
    await saveProductPermission(trx, {
      id,
      description: input.description,
      included_in: includedIn,
      created_at: existing?.created_at ?? now,
      updated_at: now,
    });
    await setInBuiltInRoles(
      trx,
      id,
      {
        add: after.filter((role) => !before.includes(role)),
        remove: before.filter((role) => !after.includes(role)),
      },
      now,
    );
    return {
      created: !existing,
      permission: { id, description: input.description, kind: 'product', includedIn },
    };
  });
}

/** Platform key only: removes a product permission no custom role holds (409 PERMISSION_IN_USE). */
export async function deletePermission(
  deps: DomainDeps,
  ctx: RequestContext,
  id: string,
): Promise<void> {
  await requirePlatform(deps.db, ctx, 'Only the platform key deletes permissions.');
  if (isServicePermission(id)) throw builtInPermission(id);
  await runTransaction(deps.db, async (trx) => {
    await lockCatalogue(trx, 'exclusive');
    const existing = await findProductPermission(trx, id);
    if (!existing) throw notFound('The permission');
    const holders = await countCustomRolesHolding(trx, id);
    if (holders > 0) {
      throw new AppError(
        'PERMISSION_IN_USE',
        `${holders} custom role(s) hold ${id}; take it out of them first.`,
      );
    }
    await deleteProductPermission(trx, id);
    await setInBuiltInRoles(
      trx,
      id,
      { add: [], remove: [...existing.included_in, 'owner'] },
      deps.clock.now(),
    );
  });
}

/**
 * Every permission named must be in the catalogue (400 otherwise); the product's are locked
 * against deletion until the change commits.
 */
export async function requireKnownPermissions(
  ex: Executor,
  permissions: readonly string[],
  path: string,
): Promise<void> {
  const product = permissions.filter((p) => !isServicePermission(p));
  const known = await lockExistingProductPermissions(ex, product);
  const unknown = product.filter((p) => !known.has(p));
  if (unknown.length > 0) {
    throw invalid(
      'body',
      path,
      `Not in the permission catalogue: ${unknown.sort().join(', ')} (define it with upsertPermission first).`,
    );
  }
}
