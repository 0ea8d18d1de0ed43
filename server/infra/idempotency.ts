import { createHash } from 'node:crypto';
import type { Caller } from '../storage/access.repository.js';
import {
  claimKey,
  completeKey,
  findKeyRecord,
  releaseClaim,
  releaseKey,
  sweepKeys,
} from '../storage/idempotency.repository.js';
import type { Db } from '../storage/database.js';
import { AppError } from '../errors.js';
import { seal, unseal } from './secrets.js';

/** What the idempotency records need: the database and a clock. */
export interface IdempotencyDeps {
  db: Db;
  clock: { now(): Date };
}

const KEEP_MS = 24 * 60 * 60 * 1000;
/** A claim this old whose request never finished (its process died) may be taken over. */
const ABANDONED_MS = 5 * 60 * 1000;

export interface StoredResponse {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

export type Claim = { kind: 'first' } | { kind: 'replay'; response: StoredResponse };

/** Keys are scoped to the credential that sent them (never stored in clear). */
export function idempotencyScope(credential: Caller): string {
  if (credential.kind === 'platform') return 'platform';
  const id =
    credential.kind === 'key' ? credential.secretHash : `${credential.via}:${credential.userId}`;
  return `${credential.kind}:${createHash('sha256').update(id).digest('hex').slice(0, 40)}`;
}

/**
 * Begins a POST carrying `Idempotency-Key`: the first request claims the key; a retry with the same
 * request gets the first response; the same key with another request is 422, and a retry while
 * the first is still running is 409.
 */
export async function claimIdempotencyKey(
  deps: IdempotencyDeps,
  scope: string,
  key: string,
  fingerprint: string,
  secret: string,
): Promise<Claim> {
  const now = deps.clock.now();
  if (Math.random() < 0.01) await sweepKeys(deps.db, new Date(now.getTime() - KEEP_MS));
  for (let attempt = 0; attempt < 3; attempt += 1) {
    if (await claimKey(deps.db, scope, key, fingerprint, now)) return { kind: 'first' };
    const record = await findKeyRecord(deps.db, scope, key);
    if (!record) continue;
    const age = now.getTime() - record.created_at.getTime();
    // An abandoned claim whose change never committed may be taken over; a committed one never.
    const stale = record.state === 'in_progress' ? age > ABANDONED_MS : age > KEEP_MS;
    if (stale) {
      // Only the record seen is removed, never a claim another process just made.
      await releaseKey(deps.db, scope, key, new Date(record.created_at.getTime() + 1));
      continue;
    }
    if (record.fingerprint !== fingerprint) {
      throw new AppError(
        'IDEMPOTENCY_KEY_REUSED',
        'This Idempotency-Key was already used with a different request; use a new key.',
      );
    }
    if (record.state === 'in_progress') {
      throw new AppError(
        'IDEMPOTENCY_KEY_IN_USE',
        'A request with this Idempotency-Key is still being processed; retry shortly.',
      );
    }
    if (record.state === 'committed') {
      // Carried out (its change committed), but its answer is not stored: never run it twice, and
      // say so at once, so a client told COMMIT_OUTCOME_UNKNOWN learns the outcome on its replay.
      throw new AppError(
        'IDEMPOTENCY_KEY_IN_USE',
        'The request with this Idempotency-Key was carried out, but its answer is not available; read the resource to see the result.',
      );
    }
    const opened = unseal(record.body, secret);
    if (!opened) {
      throw new AppError(
        'IDEMPOTENCY_KEY_REUSED',
        'This Idempotency-Key was used with another credential; use a new key.',
      );
    }
    return {
      kind: 'replay',
      response: { status: record.status!, headers: record.headers ?? {}, body: opened.value },
    };
  }
  throw new AppError(
    'IDEMPOTENCY_KEY_IN_USE',
    'A request with this Idempotency-Key is still being processed; retry shortly.',
  );
}

/** Stores the answer, sealed with the caller's secret (it may hold a new API key's secret). */
export async function completeIdempotencyKey(
  deps: IdempotencyDeps,
  scope: string,
  key: string,
  response: StoredResponse,
  secret: string,
) {
  await completeKey(deps.db, scope, key, {
    ...response,
    body: seal(response.body ?? null, secret),
  });
}

/** Gives the key up when its request failed before committing anything. */
export async function releaseIdempotencyKey(deps: IdempotencyDeps, scope: string, key: string) {
  await releaseClaim(deps.db, scope, key);
}
