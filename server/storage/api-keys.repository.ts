import { sql, type Insertable } from 'kysely';
import type { Executor } from './database.js';
import type { ApiKeyRow, ApiKeysTable } from './schema.js';

export interface KeyOwner {
  key_id: string;
  org_id: string;
  user_id: string;
  status: 'active' | 'suspended';
}

export async function findKeyOwnerByHash(
  ex: Executor,
  secretHash: string,
): Promise<KeyOwner | undefined> {
  return ex
    .selectFrom('api_keys as k')
    .innerJoin('memberships as m', (join) =>
      join.onRef('m.org_id', '=', 'k.org_id').onRef('m.user_id', '=', 'k.user_id'),
    )
    .select(['k.id as key_id', 'k.org_id', 'k.user_id', 'm.status'])
    .where('k.secret_hash', '=', secretHash)
    .executeTakeFirst();
}

export async function keyExists(ex: Executor, keyId: string): Promise<boolean> {
  const row = await ex
    .selectFrom('api_keys')
    .select('id')
    .where('id', '=', keyId)
    .executeTakeFirst();
  return row !== undefined;
}

/** Records use at most once a minute per key, so reads do not turn into a write each. */
export async function touchKey(ex: Executor, keyId: string, now: Date) {
  await ex
    .updateTable('api_keys')
    .set({ last_used_at: now })
    .where('id', '=', keyId)
    .where((eb) =>
      eb.or([
        eb('last_used_at', 'is', null),
        eb('last_used_at', '<', sql<Date>`${now}::timestamptz - interval '60 seconds'`),
      ]),
    )
    .execute();
}

export async function insertKey(ex: Executor, row: Insertable<ApiKeysTable>) {
  await ex.insertInto('api_keys').values(row).execute();
}

export async function findKey(
  ex: Executor,
  orgId: string,
  userId: string,
  keyId: string,
): Promise<ApiKeyRow | undefined> {
  return ex
    .selectFrom('api_keys')
    .selectAll()
    .where('org_id', '=', orgId)
    .where('user_id', '=', userId)
    .where('id', '=', keyId)
    .executeTakeFirst();
}

export async function listKeys(
  ex: Executor,
  orgId: string,
  userId: string,
  limit: number,
  afterId?: string,
): Promise<ApiKeyRow[]> {
  let query = ex
    .selectFrom('api_keys')
    .selectAll()
    .where('org_id', '=', orgId)
    .where('user_id', '=', userId);
  if (afterId !== undefined) query = query.where('id', '>', afterId);
  return query.orderBy('id').limit(limit).execute();
}

export async function deleteKey(ex: Executor, keyId: string): Promise<boolean> {
  const result = await ex.deleteFrom('api_keys').where('id', '=', keyId).executeTakeFirst();
  return result.numDeletedRows > 0n;
}

export async function countKeys(ex: Executor, orgId: string, userId: string): Promise<number> {
  const row = await ex
    .selectFrom('api_keys')
    .select(sql<number>`count(*)::int`.as('n'))
    .where('org_id', '=', orgId)
    .where('user_id', '=', userId)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}
