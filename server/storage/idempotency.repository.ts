import type { Executor } from './database.js';
import { preparedWrite } from './write-batch.js';

export interface IdempotencyRecord {
  fingerprint: string;
  state: 'in_progress' | 'committed' | 'done';
  status: number | null;
  headers: Record<string, string> | null;
  body: unknown;
  created_at: Date;
}

/** Claims the key for a first request; false when a record for it already exists. */
export async function claimKey(
  ex: Executor,
  scope: string,
  key: string,
  fingerprint: string,
  now: Date,
): Promise<boolean> {
  const rows = await ex
    .insertInto('idempotency_keys')
    .values({ scope, key, fingerprint, state: 'in_progress', created_at: now })
    .onConflict((oc) => oc.columns(['scope', 'key']).doNothing())
    .returning('key')
    .execute();
  return rows.length > 0;
}

export async function findKeyRecord(
  ex: Executor,
  scope: string,
  key: string,
): Promise<IdempotencyRecord | undefined> {
  const row = await ex
    .selectFrom('idempotency_keys')
    .select(['fingerprint', 'state', 'status', 'headers', 'body', 'created_at'])
    .where('scope', '=', scope)
    .where('key', '=', key)
    .executeTakeFirst();
  return row ? { ...row, created_at: new Date(row.created_at) } : undefined;
}

/**
 * Marks the claim committed: a write for the transaction of the change it guards (compiled once;
 * see `preparedWrite`).
 */
export const markKeyCommitted = preparedWrite((ex: Executor, scope: string, key: string) =>
  ex
    .updateTable('idempotency_keys')
    .set({ state: 'committed' })
    .where('scope', '=', scope)
    .where('key', '=', key)
    .returning('key'),
);

export async function completeKey(
  ex: Executor,
  scope: string,
  key: string,
  response: { status: number; headers: Record<string, string>; body: unknown },
) {
  await ex
    .updateTable('idempotency_keys')
    .set({
      state: 'done',
      status: response.status,
      headers: JSON.stringify(response.headers),
      body: response.body === undefined ? null : JSON.stringify(response.body),
    })
    .where('scope', '=', scope)
    .where('key', '=', key)
    .execute();
}

/** Forgets a key (its request failed on the server's side, or it expired). */
export async function releaseKey(ex: Executor, scope: string, key: string, olderThan?: Date) {
  let query = ex.deleteFrom('idempotency_keys').where('scope', '=', scope).where('key', '=', key);
  if (olderThan) query = query.where('created_at', '<', olderThan);
  await query.execute();
}

/** Gives up a claim whose change never committed (the request failed on the server's side). */
export async function releaseClaim(ex: Executor, scope: string, key: string) {
  await ex
    .deleteFrom('idempotency_keys')
    .where('scope', '=', scope)
    .where('key', '=', key)
    .where('state', '=', 'in_progress')
    .execute();
}

export async function sweepKeys(ex: Executor, olderThan: Date) {
  await ex.deleteFrom('idempotency_keys').where('created_at', '<', olderThan).execute();
}
