import {
  countKeys,
  deleteKey,
  findKey,
  insertKey,
  listKeys,
} from '../storage/api-keys.repository.js';
import type { Executor, Trx } from '../storage/database.js';
import { findMember } from '../storage/members.repository.js';
import { inOrganizationOrPlatform, readInOrganization, type Actor } from './access.js';
import type { AuditChange } from './audit.js';
import type { DomainDeps, RequestContext } from './context.js';
import { decodeCursor, encodeCursor, keyString, pageOf } from './cursor.js';
import { AppError, notFound } from '../errors.js';
import type { ApiKey, ApiKeyCreated, Page } from './model.js';
import { toApiKey } from './representations.js';
import { hashSecret, newSecret, secretPrefix } from '../infra/secrets.js';

/** Limits are per key: a bound on keys keeps anyone from multiplying their own limit. */
export const MAX_KEYS_PER_MEMBER = 20;

const ownKeysOnly = () =>
  new AppError(
    'INSUFFICIENT_PERMISSION',
    "Only the member themself (or the platform key) can see and create a member's API keys.",
  );

function requireSelf(actor: Actor | null, userId: string) {
  if (actor && actor.userId !== userId) throw ownKeysOnly();
}

async function requireMember(trx: Executor, orgId: string, userId: string) {
  if (!(await findMember(trx, orgId, userId))) throw notFound('The member');
}

export async function listApiKeys(
  deps: DomainDeps,
  ctx: RequestContext,
  orgId: string,
  userId: string,
  query: { limit: number; cursor?: string },
): Promise<Page<ApiKey>> {
  return readInOrganization(deps, ctx, orgId, async (trx, actor) => {
    requireSelf(actor, userId);
    await requireMember(trx, orgId, userId);
    const list = `api-keys:${userId}`;
    const after =
      query.cursor === undefined
        ? undefined
        : keyString(decodeCursor(query.cursor, list, orgId), 0);
    const rows = await listKeys(trx, orgId, userId, query.limit + 1, after);
    return pageOf(rows, query.limit, toApiKey, (row) => encodeCursor(list, orgId, [row.id]));
  });
}

export async function createApiKey(
  deps: DomainDeps,
  ctx: RequestContext,
  orgId: string,
  userId: string,
  input: { name: string },
): Promise<ApiKeyCreated> {
  return inOrganizationOrPlatform(deps, ctx, orgId, async (trx, actor, _org, { now, audit }) => {
    requireSelf(actor, userId);
    await requireMember(trx, orgId, userId);
    if ((await countKeys(trx, orgId, userId)) >= MAX_KEYS_PER_MEMBER) {
      throw new AppError(
        'API_KEY_LIMIT_REACHED',
        `A member has at most ${MAX_KEYS_PER_MEMBER} API keys; revoke one first.`,
      );
    }
    const { apiKey, change } = await mintKey(deps, trx, orgId, userId, input.name, now);
    audit(change);
    return apiKey;
  });
}

/**
 * Stores a new key for a member (only its hash) and returns it with its secret, shown this once,
 * and the `api_key.created` change for the caller to audit with the rest of its transaction.
 */
export async function mintKey(
  deps: DomainDeps,
  trx: Trx,
  orgId: string,
  userId: string,
  name: string,
  now: Date,
): Promise<{ apiKey: ApiKeyCreated; change: AuditChange }> {
  const id = deps.ids.next('key');
  const secret = newSecret();
  await insertKey(trx, {
    id,
    org_id: orgId,
    user_id: userId,
    name,
    prefix: secretPrefix(secret),
    secret_hash: hashSecret(secret),
    created_at: now,
  });
  const change: AuditChange = {
    action: 'api_key.created',
    targetUserId: userId,
    targetId: id,
    before: null,
    after: { apiKeyId: id, name },
  };
  const row = await findKey(trx, orgId, userId, id);
  return { apiKey: { ...toApiKey(row!), secret }, change };
}

/** The key's member, the owner, or the platform key may revoke a key. */
export async function revokeApiKey(
  deps: DomainDeps,
  ctx: RequestContext,
  orgId: string,
  userId: string,
  keyId: string,
): Promise<void> {
  await inOrganizationOrPlatform(deps, ctx, orgId, async (trx, actor, _org, { audit }) => {
    if (actor && actor.userId !== userId && !actor.isOwner) {
      throw new AppError(
        'INSUFFICIENT_PERMISSION',
        "Only the key's member, the owner or the platform key can revoke a key.",
      );
    }
    const key = await findKey(trx, orgId, userId, keyId);
    if (!key) throw notFound('The API key');
    await deleteKey(trx, keyId);
    audit({
      action: 'api_key.revoked',
      targetUserId: userId,
      targetId: keyId,
      before: { apiKeyId: keyId, name: key.name },
      after: null,
    });
  });
}
