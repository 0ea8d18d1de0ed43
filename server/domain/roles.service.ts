import { findRole, listRoles as listRoleRows } from '../storage/roles.repository.js';
import { readInOrganization, requirePermission } from './access.js';
import type { DomainDeps, RequestContext } from './context.js';
import { decodeCursor, encodeCursor, keyNumber, keyString, pageOf } from './cursor.js';
import { notFound } from '../errors.js';
import type { Page, Role } from './model.js';
import { toRole } from './representations.js';

export async function listRoles(
  deps: DomainDeps,
  ctx: RequestContext,
  orgId: string,
  query: { limit: number; cursor?: string },
): Promise<Page<Role>> {
  return readInOrganization(deps, ctx, orgId, async (trx, actor) => {
    requirePermission(actor, 'roles:read');
    let after: { rank: number; id: string } | undefined;
    if (query.cursor !== undefined) {
      const key = decodeCursor(query.cursor, 'roles', orgId);
      after = { rank: keyNumber(key, 0), id: keyString(key, 1) };
    }
    const rows = await listRoleRows(trx, orgId, query.limit + 1, after);
    return pageOf(rows, query.limit, toRole, (row) =>
      encodeCursor('roles', orgId, [row.rank, row.id]),
    );
  });
}

export async function getRole(
  deps: DomainDeps,
  ctx: RequestContext,
  orgId: string,
  roleId: string,
): Promise<Role> {
  return readInOrganization(deps, ctx, orgId, async (trx, actor) => {
    requirePermission(actor, 'roles:read');
    const row = await findRole(trx, orgId, roleId);
    if (!row) throw notFound('The role');
    return toRole(row);
  });
}
