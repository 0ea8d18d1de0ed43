import type { Db, Trx } from '../storage/database.js';

/**
 * Who is calling: a member's API key, the platform key (which is a member of nothing), or nobody
 * (on the operations the contract leaves open).
 */
export type Principal =
  | { kind: 'member'; organizationId: string; userId: string; apiKeyId: string }
  | { kind: 'platform' }
  | { kind: 'anonymous' };

/** What every use case receives about the request it serves. */
export interface RequestContext {
  principal: Principal;
  requestId: string;
  /** Runs inside a change's transaction, just before it commits (idempotency marks its claim). */
  beforeCommit?: (trx: Trx) => Promise<void>;
}

export interface Clock {
  now(): Date;
}

export interface IdGenerator {
  /** A new id: `prefix_` followed by a ULID. */
  next(prefix: 'org' | 'role' | 'team' | 'key' | 'evt'): string;
}

export interface DomainDeps {
  db: Db;
  clock: Clock;
  ids: IdGenerator;
}
