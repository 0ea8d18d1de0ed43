import {
  findActorByKey,
  lockOrganizationFor,
  readWithActor,
  type ActorAnswer,
  type ActorRecord,
  type Caller,
  type Facts,
  type Question,
} from '../storage/access.repository.js';
import { insertAuditEventsQuery } from '../storage/audit.repository.js';
import type { Db, Executor, Trx } from '../storage/database.js';
import { markKeyCommitted } from '../storage/idempotency.repository.js';
import { RawNode, SelectQueryNode, sql, type KyselyPlugin, type RootOperationNode } from 'kysely';
import { insertDeliveriesQuery } from '../storage/webhooks.repository.js';
import { runTransaction } from '../storage/transaction.js';
import { CommitOutcomeUnknownError } from '../storage/database-errors.js';
import type { OrganizationRow } from '../storage/schema.js';
import { runWrites, type Write } from '../storage/write-batch.js';
import { AppError, notFound } from '../errors.js';
import { auditEvent, type AuditChange } from './audit.js';
import type { DomainDeps, RequestContext } from './context.js';
import { OWNER_ROLE_ID, type Permission } from './permissions.js';

/** The calling member, as the database says now: a role change applies to the very next request. */
export interface Actor {
  userId: string;
  /** The member's key the request came with; null for an access token or on-behalf-of. */
  apiKeyId: string | null;
  /** The credential: the member's key, an access token, or the platform key on their behalf. */
  via: 'api_key' | 'token' | 'platform';
  roleId: string;
  permissions: ReadonlySet<Permission>;
  isOwner: boolean;
}

export const organizationNotFound = () => notFound('The organization');

const unknownKey = () => new AppError('UNAUTHENTICATED', 'The API key is not valid.');

const suspended = () =>
  new AppError('MEMBER_SUSPENDED', 'Your membership is suspended; your API keys are refused.');

/** The caller a request presented; 401 for a request without a credential. */
export function callerOf(ctx: RequestContext): Caller {
  if (ctx.credential.kind === 'anonymous') {
    throw new AppError('UNAUTHENTICATED', 'Send an API key.');
  }
  return ctx.credential;
}

function toActor(record: ActorRecord, caller: Caller): Actor {
  return {
    userId: record.user_id,
    apiKeyId: record.key_id,
    via: caller.kind === 'user' ? caller.via : 'api_key',
    roleId: record.role_id,
    permissions: new Set(record.role_permissions),
    isOwner: record.role_id === OWNER_ROLE_ID,
  };
}

/**
 * Who the key acts as in this organization. An unknown (or revoked) key is 401. Rule 8: a
 * suspended member's keys are refused with 403. Rule 7 (tenancy): anyone who is not a member of
 * the organization gets the same 404 as for an organization that does not exist.
 */
function actorIn(record: ActorRecord | null | undefined, orgId: string, caller: Caller): Actor {
  if (!record) throw caller.kind === 'key' ? unknownKey() : organizationNotFound();
  if (record.status !== 'active') throw suspended();
  if (record.org_id !== orgId) throw organizationNotFound();
  return toActor(record, caller);
}

/**
 * For operations outside any one organization: the caller is who they say (a member's key that
 * exists and whose member is not suspended: else 401 or 403; a verified access token; the
 * platform key, alone or on someone's behalf).
 */
export async function requireAuthenticated(db: Db, ctx: RequestContext): Promise<Caller> {
  const caller = callerOf(ctx);
  if (caller.kind === 'key') {
    const record = await findActorByKey(db, caller.secretHash);
    actorIn(record, record?.org_id ?? '', caller);
  }
  return caller;
}

/**
 * The member a key belongs to, read in the same statement as a question about it: an unknown
 * (or revoked) key is 401, a suspended member's keys are refused with 403 (rule 8).
 */
export function keyHolder(record: ActorRecord | null, caller: Caller): Actor {
  return actorIn(record, record?.org_id ?? '', caller);
}

/** For the deployment's own operations: the platform key acting as itself, nobody else. */
export async function requirePlatform(db: Db, ctx: RequestContext, refusal: string) {
  const caller = await requireAuthenticated(db, ctx);
  if (caller.kind !== 'platform') throw new AppError('INSUFFICIENT_PERMISSION', refusal);
}

const onBehalfOfRequired = () =>
  new AppError(
    'ON_BEHALF_OF_REQUIRED',
    'The platform key reads every organization but changes one only on behalf of a member: send On-Behalf-Of: <userId>.',
  );

/**
 * Rule 1 and its kin: the actor's current role must hold the permission. A null actor is the
 * platform key reading (it reads every organization; it never changes one as itself).
 */
export function requirePermission(actor: Actor | null, permission: Permission): void {
  if (actor && !actor.permissions.has(permission)) {
    throw new AppError(
      'INSUFFICIENT_PERMISSION',
      `This operation needs the permission ${permission}, which your role does not hold.`,
    );
  }
}

/**
 * Rule 2 (privilege ceiling): the actor can neither grant nor take away a permission it does
 * not hold. The owner holds everything and passes.
 */
export function requireWithinCeiling(actor: Actor, permissions: Iterable<string>, what: string) {
  if (actor.isOwner) return;
  const missing = [...new Set(permissions)].filter((p) => !actor.permissions.has(p));
  if (missing.length > 0) {
    throw new AppError(
      'PRIVILEGE_CEILING',
      `${what} involves permissions you do not hold: ${missing.sort().join(', ')}.`,
    );
  }
}

type NoFacts = Record<string, never>;

async function ask<F extends Record<string, unknown>>(
  ex: Executor,
  caller: Caller,
  orgId: string,
  facts: Facts<F> | Question<F> | undefined,
  platform: boolean,
): Promise<{ actor: Actor | null; answer: ActorAnswer<F> }> {
  const answer = await readWithActor<F>(ex, caller, orgId, facts ?? ({} as Facts<F>), platform);
  if (caller.kind === 'platform') {
    if (!answer.org) throw organizationNotFound();
    return { actor: null, answer };
  }
  const actor = actorIn(answer.actor, orgId, caller);
  if (!answer.org) throw organizationNotFound();
  return { actor, answer };
}

/**
 * A read inside one organization. Authentication, the actor's current role, tenancy and the
 * `facts` are one statement, without a transaction; `work` applies the rules to them and may ask
 * the database once more (a list's page, say). The actor is null for the platform key, which
 * reads every organization.
 */
export async function readInOrganization<T, F extends Record<string, unknown> = NoFacts>(
  deps: DomainDeps,
  ctx: RequestContext,
  orgId: string,
  work: (db: Executor, actor: Actor | null, facts: F, org: OrganizationRow) => Promise<T> | T,
  facts?: Facts<F> | Question<F>,
): Promise<T> {
  const { actor, answer } = await ask(deps.db, callerOf(ctx), orgId, facts, true);
  return work(deps.db, actor, answer.facts, answer.org!);
}

/** What a change inside one organization works with, besides its transaction. */
export interface Change<F> {
  /** The change's one reading of the clock. */
  now: Date;
  /** The facts asked for, read under the organization's lock together with the actor. */
  facts: F;
  /** Rule 11: the change's audit events, written in its transaction with its last writes. */
  audit: (...changes: AuditChange[]) => void;
  /**
   * A write sent with the audit events and the idempotency mark in the change's last statement;
   * `expect` names how many rows it must touch and the error when it does not (the change then
   * rolls back). Writes to the same row, or whose order matters, are run directly instead.
   */
  defer: (write: Write, expect?: { rows: number; otherwise: () => AppError }) => void;
}

interface Deferred {
  write: Write;
  expect?: { rows: number; otherwise: () => AppError };
}

/**
 * The unit of work every change inside one organization goes through: one transaction that takes
 * the organization's lock (only for a caller entitled to contend for it: tenancy first), reads
 * the actor and the `facts` under it, runs the rules and changes of `work`, then writes the
 * deferred writes, the audit events and the idempotency mark together, and commits (a preview,
 * `ctx.preview`, rolls back instead). Nothing can forget a step: a change without its audit
 * event or its idempotency mark cannot be written. Changes of the organization arriving while one
 * is in flight in this process ride its transaction (group commit, see `unitOfWork`).
 */
export async function inOrganization<T, F extends Record<string, unknown> = NoFacts>(
  deps: DomainDeps,
  ctx: RequestContext,
  orgId: string,
  work: (trx: Trx, actor: Actor, org: OrganizationRow, change: Change<F>) => Promise<T>,
  facts?: Facts<F> | Question<F>,
): Promise<T> {
  const caller = callerOf(ctx);
  if (caller.kind === 'platform') throw onBehalfOfRequired();
  return unitOfWork(deps, ctx, caller, orgId, facts, false, (trx, actor, org, change) =>
    work(trx, actor!, org, change),
  );
}

/**
 * A change's rules and writes, apart from the unit of work that runs them: alone (`runStep`, its
 * own transaction) or as one item of a batch (`inOrganizationBatch`), so a batch item is held to
 * exactly the rules of its single operation.
 */
export interface Step<T, F extends Record<string, unknown> = NoFacts> {
  facts?: Facts<F> | Question<F>;
  // A method, so a batch can hold steps of different facts side by side.
  work(this: void, trx: Trx, actor: Actor, org: OrganizationRow, change: Change<F>): Promise<T>;
}

/** A step with its facts' type inferred. */
export const step = <T, F extends Record<string, unknown> = NoFacts>(
  work: Step<T, F>['work'],
  facts?: Step<T, F>['facts'],
): Step<T, F> => (facts === undefined ? { work } : { work, facts });

/** Runs one step in its own unit of work (see `inOrganization`). */
export function runStep<T, F extends Record<string, unknown>>(
  deps: DomainDeps,
  ctx: RequestContext,
  orgId: string,
  { work, facts }: Step<T, F>,
): Promise<T> {
  return inOrganization(deps, ctx, orgId, work, facts);
}

/** What became of one item of a batch: its answer, or the refusal it met. */
export type BatchOutcome<T> =
  { index: number; applied: true; value: T } | { index: number; applied: false; error: AppError };

/** Thrown out of an atomic batch's transaction (rolling everything back) with every outcome. */
export class BatchFailed<T> extends Error {
  constructor(readonly outcomes: BatchOutcome<T>[]) {
    super('an atomic batch had a refused item');
  }
}

/**
 * A batch of changes inside one organization, in order, in one transaction under one take of the
 * organization's lock. Each item is a step (the very rules and writes of its single operation)
 * made by `items[i]()`; it reads the actor afresh (an earlier item may have changed them) with
 * its facts, runs, and flushes its own writes and audit events. A refused item leaves no trace
 * and the batch goes on. With `atomic`, one refusal rolls back the whole transaction
 * (`BatchFailed`, with every item's outcome; nothing applied, nothing audited). A database failure
 * is no refusal: the whole batch fails (and is retried) as any change does. The idempotency mark
 * is written once, with the batch.
 *
 * How a refused item leaves no trace: almost every refusal comes before its item writes anything
 * (the rules run first, the writes are flushed last), so the batch first runs without savepoints,
 * watching each item's writes. Only when an item is refused after it wrote (or after a statement
 * of it failed) is that transaction rolled back and the batch run again with a savepoint around
 * every item. Round trips: BEGIN, the lock, the caller, then per item its read and its flush
 * (a refused item: its read), then the mark and COMMIT; with savepoints, one more per item.
 */
export async function inOrganizationBatch<T>(
  deps: DomainDeps,
  ctx: RequestContext,
  orgId: string,
  items: readonly (() => Step<T, Record<string, unknown>>)[],
  atomic: boolean,
): Promise<BatchOutcome<T>[]> {
  const caller = callerOf(ctx);
  if (caller.kind === 'platform') throw onBehalfOfRequired();
  const batch = (savepoints: boolean) =>
    transaction(deps, orgId, (trx, written) =>
      runBatch(deps, ctx, caller, trx, written, orgId, items, atomic, savepoints),
    );
  try {
    return await batch(false);
  } catch (error) {
    if (!(error instanceof SavepointsNeeded) && !isAbortedTransaction(error)) throw error;
    return batch(true);
  }
}

/** An item was refused after it wrote: the batch must run again with savepoints. */
class SavepointsNeeded extends Error {
  constructor() {
    super('a batch item was refused after it wrote');
  }
}

/** PostgreSQL refusing statements after one failed (25P02): an item's statement failed. */
const isAbortedTransaction = (error: unknown) =>
  (error as { code?: unknown } | null)?.code === '25P02';

/** Notes whether a step sends a write (anything but a select) while `watching` is on. */
function writeWatch(state: { watching: boolean; wrote: boolean }): KyselyPlugin {
  return {
    transformQuery({ node }) {
      if (state.watching && !isRead(node)) state.wrote = true;
      return node;
    },
    transformResult: ({ result }) => Promise.resolve(result),
  };
}

const isRead = (node: RootOperationNode) =>
  SelectQueryNode.is(node) ||
  (RawNode.is(node) &&
    /^\s*(select|with\s+[^(]+as\s*\(\s*select)\b/i.test(node.sqlFragments[0] ?? ''));

async function runBatch<T>(
  deps: DomainDeps,
  ctx: RequestContext,
  caller: Caller,
  trx: Trx,
  written: Written,
  orgId: string,
  items: readonly (() => Step<T, Record<string, unknown>>)[],
  atomic: boolean,
  savepoints: boolean,
): Promise<BatchOutcome<T>[]> {
  const itemCtx: RequestContext = { credential: ctx.credential, requestId: ctx.requestId };
  await lockFor(trx, caller, orgId);
  // The whole batch is refused for a caller who may not act here at all (401, 403, 404).
  await ask(trx, caller, orgId, undefined, false);
  if (savepoints) await sql`savepoint batch_item`.execute(trx);
  const outcomes: BatchOutcome<T>[] = [];
  for (const [index, make] of items.entries()) {
    const state = { watching: false, wrote: false };
    try {
      const { work, facts } = make();
      const value = await sharedChange(
        { deps, ctx: itemCtx, trx, written, orgId, caller, state, watch: !savepoints },
        facts,
        false,
        (watched, actor, org, change) => work(watched, actor!, org, change),
      );
      outcomes.push({ index, applied: true, value });
      // One round trip (no parameters: one simple query with two statements).
      if (savepoints) await sql`release savepoint batch_item; savepoint batch_item`.execute(trx);
    } catch (error) {
      if (!(error instanceof AppError) || error.status >= 500) throw error;
      if (savepoints) await sql`rollback to savepoint batch_item`.execute(trx);
      else if (state.wrote) throw new SavepointsNeeded();
      outcomes.push({ index, applied: false, error });
    }
  }
  if (atomic && outcomes.some((outcome) => !outcome.applied)) throw new BatchFailed(outcomes);
  if (ctx.idempotency) {
    await markKeyCommitted(trx, ctx.idempotency.scope, ctx.idempotency.key).execute();
  } else if (!savepoints && !outcomes.at(-1)!.applied) {
    // A statement of the last item may have failed unnoticed (a refusal made of a database
    // error): COMMIT would then roll back silently. One statement more says so (25P02).
    await sql`select 1`.execute(trx);
  }
  return outcomes;
}

/**
 * As `inOrganization`, for the operations the platform key may also perform: the actor is null
 * when the platform key calls (it is a member of nothing, but may manage keys).
 */
export async function inOrganizationOrPlatform<T, F extends Record<string, unknown> = NoFacts>(
  deps: DomainDeps,
  ctx: RequestContext,
  orgId: string,
  work: (trx: Trx, actor: Actor | null, org: OrganizationRow, change: Change<F>) => Promise<T>,
  facts?: Facts<F> | Question<F>,
): Promise<T> {
  return unitOfWork(deps, ctx, callerOf(ctx), orgId, facts, true, work);
}

/** Thrown out of a preview's transaction to roll it back, with what the change answered. */
class PreviewRolledBack extends Error {
  constructor(readonly answer: unknown) {
    super('a preview rolls its change back');
  }
}

/** Whether a change wrote events (so that, once committed, those waiting for them are told). */
interface Written {
  events: boolean;
  /** Webhook deliveries were queued (the delivery worker has work). */
  deliveries: boolean;
}

/**
 * Runs a change's transaction; for a preview, answers what the rolled-back change answered. Once
 * a change with events has committed, the requests waiting for the organization's events in this
 * process are woken (other processes hear of it from the database).
 */
async function transaction<T>(
  deps: DomainDeps,
  orgId: string,
  work: (trx: Trx, written: Written) => Promise<T>,
): Promise<T> {
  const written: Written = { events: false, deliveries: false };
  let result: T;
  try {
    result = await runTransaction(deps.db, (trx) => work(trx, written));
  } catch (error) {
    if (error instanceof PreviewRolledBack) return error.answer as T;
    throw error;
  }
  if (written.events) deps.events?.notify(orgId);
  if (written.deliveries) deps.events?.notifyDeliveries();
  return result;
}

type Work<T, F> = (
  trx: Trx,
  actor: Actor | null,
  org: OrganizationRow,
  change: Change<F>,
) => Promise<T>;

/** A change waiting for the transaction of its organization in flight in this process. */
interface Waiting {
  deps: DomainDeps;
  ctx: RequestContext;
  caller: Caller;
  facts: Facts<Record<string, unknown>> | Question<Record<string, unknown>> | undefined;
  platform: boolean;
  work: Work<unknown, Record<string, unknown>>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/** A change carried by another's transaction: its answer, or the refusal it met. */
type Carried = { item: Waiting; value: unknown } | { item: Waiting; refused: AppError };

/** The most waiting changes one transaction carries (the organization stays locked meanwhile). */
const CARRIED_AT_MOST = 32;

/** Per database, the organizations with a change in flight here, and the changes waiting. */
const inFlight = new WeakMap<Db, Map<string, Waiting[]>>();

/**
 * A carried change failed otherwise than by a refusal before it wrote: the group rolls back (it
 * runs again when the cause is a broken connection) or every change of it runs alone.
 */
class GroupBroken extends Error {
  constructor(reason: unknown) {
    super('a change carried by another transaction failed', { cause: reason });
  }
}

/**
 * The unit of work of a change (`inOrganization`), with group commit: changes of one
 * organization are serialized by its lock anyway, so those that arrive in this process while one
 * is in flight wait for it, and its transaction carries them after its own change, in order, each
 * reading the actor and its facts afresh, then commits once; each is answered after that COMMIT.
 * A carried change is the very same step as alone. One refused before it wrote leaves no trace
 * and gets its refusal; any other failure of a carried change (a refusal after it wrote, a failed
 * statement) rolls the group back and every change of it runs again alone, so that no change
 * answers for another. A transaction whose COMMIT outcome is unknown says so to all it carried.
 * Previews run alone (they roll back).
 */
async function unitOfWork<T, F extends Record<string, unknown>>(
  deps: DomainDeps,
  ctx: RequestContext,
  caller: Caller,
  orgId: string,
  facts: Facts<F> | Question<F> | undefined,
  platform: boolean,
  work: Work<T, F>,
): Promise<T> {
  if (ctx.preview) return unitOfWorkAlone(deps, ctx, caller, orgId, facts, platform, work);
  let organizations = inFlight.get(deps.db);
  if (!organizations) inFlight.set(deps.db, (organizations = new Map<string, Waiting[]>()));
  const waiting = organizations.get(orgId);
  if (waiting) {
    return new Promise<T>((resolve, reject) => {
      waiting.push({
        deps,
        ctx,
        caller,
        facts,
        platform,
        work: work as Waiting['work'],
        resolve: resolve as Waiting['resolve'],
        reject,
      });
    });
  }
  const queue: Waiting[] = [];
  organizations.set(orgId, queue);
  // The waiting changes the transaction took (in order) and what became of each.
  let taken: Waiting[] = [];
  let outcomes: Carried[] = [];
  try {
    const result = await transaction(deps, orgId, async (trx, written) => {
      // A transaction run again (contention, a broken connection) carries them again.
      queue.unshift(...taken);
      taken = [];
      outcomes = [];
      const value = await lockedChange(
        deps,
        ctx,
        trx,
        written,
        caller,
        orgId,
        facts,
        platform,
        work,
      );
      while (queue.length > 0 && taken.length < CARRIED_AT_MOST) {
        const item = queue.shift()!;
        taken.push(item);
        outcomes.push(await carry(trx, written, orgId, item));
      }
      // A statement of the last carried change may have failed unnoticed (a refusal made of a
      // database error): COMMIT would then roll back silently. One statement more says so.
      if (outcomes.length > 0 && 'refused' in outcomes.at(-1)!) await sql`select 1`.execute(trx);
      return value;
    });
    for (const outcome of outcomes) {
      if ('refused' in outcome) outcome.item.reject(outcome.refused);
      else outcome.item.resolve(outcome.value);
    }
    return result;
  } catch (error) {
    if (error instanceof CommitOutcomeUnknownError) {
      for (const item of taken) item.reject(error);
      throw error;
    }
    if (taken.length === 0) throw error;
    for (const item of taken) answerBy(unitOfWorkAlone, item, orgId);
    return unitOfWorkAlone(deps, ctx, caller, orgId, facts, platform, work);
  } finally {
    organizations.delete(orgId);
    for (const item of queue.splice(0)) answerBy(unitOfWork, item, orgId);
  }
}

/** Runs a waiting change by `run` (alone, or as a group of its own) and answers it. */
function answerBy(run: typeof unitOfWorkAlone, item: Waiting, orgId: string) {
  run(item.deps, item.ctx, item.caller, orgId, item.facts, item.platform, item.work).then(
    item.resolve,
    item.reject,
  );
}

/** Runs a waiting change inside the transaction of another (see `unitOfWork`). */
async function carry(trx: Trx, written: Written, orgId: string, item: Waiting): Promise<Carried> {
  const state = { watching: false, wrote: false };
  try {
    const value = await sharedChange(
      {
        deps: item.deps,
        ctx: item.ctx,
        trx,
        written,
        orgId,
        caller: item.caller,
        state,
        watch: true,
      },
      item.facts,
      item.platform,
      item.work,
    );
    return { item, value };
  } catch (error) {
    if (error instanceof AppError && error.status < 500 && !state.wrote) {
      return { item, refused: error };
    }
    throw new GroupBroken(error);
  }
}

/**
 * A change run inside a transaction it shares with others (a batch item, a carried change): it
 * reads its actor and facts, runs, and flushes its writes. `state.wrote` tells whether it sent a
 * write (its own statements are watched when `watch`; its flush always counts), so that a
 * refusal after a write can be told from one before.
 */
async function sharedChange<T, F extends Record<string, unknown>>(
  shared: {
    deps: DomainDeps;
    ctx: RequestContext;
    trx: Trx;
    written: Written;
    orgId: string;
    caller: Caller;
    state: { watching: boolean; wrote: boolean };
    watch: boolean;
  },
  facts: Facts<F> | Question<F> | undefined,
  platform: boolean,
  work: Work<T, F>,
): Promise<T> {
  const { deps, ctx, trx, written, orgId, caller, state } = shared;
  const watched = shared.watch ? trx.withPlugin(writeWatch(state)) : trx;
  const { actor, answer } = await ask(trx, caller, orgId, facts, platform);
  return changeIn(
    deps,
    ctx,
    trx,
    written,
    actor,
    orgId,
    answer.facts,
    async (change) => {
      state.watching = true;
      try {
        return await work(watched, actor, answer.org!, change);
      } finally {
        state.watching = false;
      }
    },
    () => (state.wrote = true),
  );
}

/** One change in a transaction of its own. */
async function unitOfWorkAlone<T, F extends Record<string, unknown>>(
  deps: DomainDeps,
  ctx: RequestContext,
  caller: Caller,
  orgId: string,
  facts: Facts<F> | Question<F> | undefined,
  platform: boolean,
  work: Work<T, F>,
): Promise<T> {
  return transaction(deps, orgId, (trx, written) =>
    lockedChange(deps, ctx, trx, written, caller, orgId, facts, platform, work),
  );
}

/**
 * The change that opens its transaction (alone, or leading a group): takes the organization's
 * lock, reads the actor and the facts under it, and runs.
 */
async function lockedChange<T, F extends Record<string, unknown>>(
  deps: DomainDeps,
  ctx: RequestContext,
  trx: Trx,
  written: Written,
  caller: Caller,
  orgId: string,
  facts: Facts<F> | Question<F> | undefined,
  platform: boolean,
  work: Work<T, F>,
): Promise<T> {
  await lockFor(trx, caller, orgId);
  const { actor, answer } = await ask(trx, caller, orgId, facts, platform);
  return changeIn(deps, ctx, trx, written, actor, orgId, answer.facts, (change) =>
    work(trx, actor, answer.org!, change),
  );
}

/** Takes the organization's lock, or says why the caller is not entitled to contend for it. */
async function lockFor(trx: Trx, caller: Caller, orgId: string) {
  if (!(await lockOrganizationFor(trx, caller, orgId))) {
    // Not entitled to the lock: say why without touching the organization.
    if (caller.kind === 'key') {
      actorIn(await findActorByKey(trx, caller.secretHash), orgId, caller);
    }
    throw organizationNotFound();
  }
}

/**
 * A change the platform key makes to a new organization (`orgId`, not yet written): the same unit
 * of work without a lock to take, since nobody else can know the organization yet.
 */
export async function platformChange<T>(
  deps: DomainDeps,
  ctx: RequestContext,
  orgId: string,
  refusal: string,
  work: (trx: Trx, change: Change<NoFacts>) => Promise<T>,
): Promise<T> {
  await requirePlatform(deps.db, ctx, refusal);
  return transaction(deps, orgId, (trx, written) =>
    changeIn(deps, ctx, trx, written, null, orgId, {}, (change) => work(trx, change)),
  );
}

/**
 * Runs a change's rules and writes, then its last writes, audit events, their webhook deliveries
 * (the outbox) and idempotency mark, in one statement. A preview goes exactly as far, then rolls
 * everything back (and marks no idempotency claim).
 */
async function changeIn<T, F>(
  deps: DomainDeps,
  ctx: RequestContext,
  trx: Trx,
  written: Written,
  actor: Actor | null,
  orgId: string,
  facts: F,
  work: (change: Change<F>) => Promise<T>,
  /** Told just before the last writes are sent (a batch notes that its item wrote). */
  onFlush?: () => void,
): Promise<T> {
  const now = deps.clock.now();
  const audits: AuditChange[] = [];
  const deferred: Deferred[] = [];
  const result = await work({
    now,
    facts,
    audit: (...changes) => audits.push(...changes),
    defer: (write, expect) => deferred.push(expect ? { write, expect } : { write }),
  });
  const writes = deferred.map((d) => d.write);
  let outbox: number | undefined;
  if (audits.length > 0) {
    const events = audits.map((change) => auditEvent(deps, ctx, actor, orgId, now, change));
    writes.push(insertAuditEventsQuery(trx, events));
    // The transactional outbox: each event's deliveries to the endpoints subscribed to it.
    outbox = writes.push(insertDeliveriesQuery(trx, orgId, events, now)) - 1;
    written.events = true;
  }
  if (ctx.idempotency && !ctx.preview) {
    writes.push(markKeyCommitted(trx, ctx.idempotency.scope, ctx.idempotency.key));
  }
  if (writes.length > 0) onFlush?.();
  const touched = await runWrites(trx, writes);
  if (outbox !== undefined && (touched[outbox] ?? 0) > 0) written.deliveries = true;
  deferred.forEach(({ expect }, i) => {
    if (expect && touched[i] !== expect.rows) throw expect.otherwise();
  });
  if (ctx.preview) throw new PreviewRolledBack(result);
  return result;
}
