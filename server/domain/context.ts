import type { Caller } from '../storage/access.repository.js';
import type { Db } from '../storage/database.js';

/**
 * What a request presented, before the database is asked: a member's API key (by its hash), the
 * platform key (recognised by its hash alone; it is a member of nothing), or nothing (on the
 * operations the contract leaves open). Which member a key belongs to, and whether it still
 * acts, is read in the same statement as the answer.
 */
export type Credential = Caller | { kind: 'anonymous' };

/** What every use case receives about the request it serves. */
export interface RequestContext {
  credential: Credential;
  requestId: string;
  /** The `Idempotency-Key` claim this change marks committed inside its own transaction. */
  idempotency?: { scope: string; key: string };
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
