import type { Caller } from '../storage/access.repository.js';
import type { Db } from '../storage/database.js';
import type { RevisionCache } from '../infra/revision-cache.js';

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
  /**
   * A preview: the change runs all its rules and writes, then its transaction is rolled back
   * instead of committed (and no idempotency claim is marked). The use case answers as it would
   * have, or throws the refusal the change would meet; nothing is kept.
   */
  preview?: boolean;
}

export interface Clock {
  now(): Date;
}

export interface IdGenerator {
  /** A new id: `prefix_` followed by a ULID. */
  next(prefix: 'org' | 'role' | 'team' | 'key' | 'evt' | 'inv' | 'whe'): string;
}

/** The guard a webhook URL must pass (https, public addresses only), when it is saved. */
export interface WebhookUrlCheck {
  check(url: string): Promise<{ ok: true } | { ok: false; reason: string }>;
}

/** Committed events: told by the unit of work, waited for by `listEvents`. */
export interface EventWaiter {
  notify(orgId: string): void;
  /** Webhook deliveries were queued: wakes the delivery worker. */
  notifyDeliveries(): void;
  /** Resolves on the organization's next committed events, after `ms`, or when the service stops. */
  wait(orgId: string, ms: number): Promise<'events' | 'timeout' | 'closed'>;
}

export interface DomainDeps {
  db: Db;
  clock: Clock;
  ids: IdGenerator;
  /** Checks webhook URLs; without it (tools, seeds) webhook endpoints cannot be saved. */
  webhookUrls?: WebhookUrlCheck | undefined;
  /** Wakes the requests waiting for events; without it nothing waits. */
  events?: EventWaiter | undefined;
  /** Pages of members rendered before, by the organization's revision; without it none is kept. */
  membersPages?: RevisionCache<KeptMembersPage> | undefined;
}

/** A page of members as the database rendered it, and the key the next page starts after. */
export interface KeptMembersPage {
  text: string;
  lastKey: string | null;
}
