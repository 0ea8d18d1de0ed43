import { sql, type Insertable } from 'kysely';
import type { Executor } from './database.js';
import type { ProductPermissionsTable } from './schema.js';

/** Any fixed number: the advisory lock that orders catalogue changes and new organizations. */
const CATALOGUE_LOCK = 7_140_501;

/**
 * Orders catalogue changes (exclusive) against organizations being created (shared), so a new
 * organization's built-in roles are made from one version of the catalogue.
 */
export async function lockCatalogue(ex: Executor, mode: 'shared' | 'exclusive') {
  if (mode === 'shared')
    await sql`select pg_advisory_xact_lock_shared(${CATALOGUE_LOCK})`.execute(ex);
  else await sql`select pg_advisory_xact_lock(${CATALOGUE_LOCK})`.execute(ex);
}

export async function listProductPermissions(ex: Executor) {
  return ex.selectFrom('product_permissions').selectAll().orderBy('id').execute();
}

export async function findProductPermission(ex: Executor, id: string) {
  return ex.selectFrom('product_permissions').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function countProductPermissions(ex: Executor): Promise<number> {
  const row = await ex
    .selectFrom('product_permissions')
    .select(sql<number>`count(*)::int`.as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function saveProductPermission(
  ex: Executor,
  row: Insertable<ProductPermissionsTable>,
) {
  await ex
    .insertInto('product_permissions')
    .values(row)
    .onConflict((oc) =>
      oc.column('id').doUpdateSet({
        description: row.description,
        included_in: row.included_in,
        updated_at: row.updated_at,
      }),
    )
    .execute();
}

export async function deleteProductPermission(ex: Executor, id: string) {
  await ex.deleteFrom('product_permissions').where('id', '=', id).execute();
}

/**
 * Which of these product permissions exist, locked against deletion until the transaction ends
 * (a role being given one cannot race its deletion).
 */
export async function lockExistingProductPermissions(
  ex: Executor,
  ids: readonly string[],
): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await ex
    .selectFrom('product_permissions')
    .select('id')
    .where('id', 'in', [...ids])
    .forKeyShare()
    .execute();
  return new Set(rows.map((row) => row.id));
}

/** The product permissions each built-in role includes (for a new organization's roles). */
export async function productPermissionsOf(ex: Executor, roleId: string): Promise<string[]> {
  const rows = await sql<{ id: string }>`
    select id from product_permissions where ${roleId} = 'owner' or ${roleId} = any(included_in)
    order by id
  `.execute(ex);
  return rows.rows.map((row) => row.id);
}

/** How many custom roles, in all organizations, hold the permission. */
export async function countCustomRolesHolding(ex: Executor, id: string): Promise<number> {
  const { rows } = await sql<{ n: number }>`
    select count(*)::int as n from roles where not built_in and ${id} = any(permissions)
  `.execute(ex);
  return Number(rows[0]!.n);
}

/**
 * Gives (or takes) a permission to the built-in roles named, in every organization, stepping
 * their versions and their members' (their representations changed), and giving every
 * organization a new revision (its pages of members changed; see `lockOrganizationFor`). The
 * organizations are locked first, as a change inside one organization takes its lock before it
 * writes: this change then never holds a row such a change waits for while it waits for its lock.
 */
export async function setInBuiltInRoles(
  ex: Executor,
  id: string,
  change: { add: readonly string[]; remove: readonly string[] },
  now: Date,
) {
  if (change.add.length + change.remove.length > 0) {
    await sql`update organizations set revision = gen_random_uuid()`.execute(ex);
  }
  if (change.add.length > 0) {
    await sql`
      update roles set permissions = array_append(permissions, ${id}), version = version + 1,
        updated_at = ${now}
      where built_in and id = any(${[...change.add]}::text[]) and not (${id} = any(permissions))
    `.execute(ex);
  }
  if (change.remove.length > 0) {
    await sql`
      update roles set permissions = array_remove(permissions, ${id}), version = version + 1,
        updated_at = ${now}
      where built_in and id = any(${[...change.remove]}::text[]) and ${id} = any(permissions)
    `.execute(ex);
  }
  const changed = [...change.add, ...change.remove];
  if (changed.length > 0) {
    await sql`
      update memberships m set version = m.version + 1, updated_at = ${now}
      from roles r
      where r.org_id = m.org_id and r.id = m.role_id and r.built_in
        and m.role_id = any(${changed}::text[])
    `.execute(ex);
  }
}
