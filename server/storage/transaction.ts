import type { ControlledTransaction, IsolationLevel } from 'kysely';
import type { Db, Trx } from './database.js';
import {
  CommitOutcomeUnknownError,
  classifyDatabaseError,
  isConnectionFailure,
} from './database-errors.js';
import { isRetryable } from './retry.js';
import type { Database } from './schema.js';

export interface TransactionOptions {
  isolation?: IsolationLevel;
  /** How many times the whole transaction may run (default 4). */
  attempts?: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs `work` in one transaction and commits it. It runs again, a bounded number of times, when
 * running again is provably safe: PostgreSQL aborted it for contention (serialization failure,
 * deadlock), or its connection broke before COMMIT was sent (a transaction that never sent
 * COMMIT never commits). When the connection breaks during COMMIT the outcome is unknown:
 * `CommitOutcomeUnknownError`, never a plain failure and never a second run.
 *
 * BEGIN, the work and COMMIT are driven one by one on one connection (Kysely's controlled
 * transaction), so the step that failed is known.
 */
export async function runTransaction<T>(
  db: Db,
  work: (trx: Trx) => Promise<T>,
  options: TransactionOptions = {},
): Promise<T> {
  const attempts = options.attempts ?? 4;
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await runOnce(db, work, options.isolation);
    } catch (error) {
      if (attempt >= attempts || error instanceof CommitOutcomeUnknownError) throw error;
      if (isRetryable(error)) {
        await sleep(Math.random() * 20 * attempt);
      } else if (isConnectionFailure(error)) {
        // A new connection is made for the next run: give a restarting server a moment.
        await sleep(50 * 2 ** attempt);
      } else {
        throw error;
      }
    }
  }
}

async function runOnce<T>(
  db: Db,
  work: (trx: Trx) => Promise<T>,
  isolation: IsolationLevel | undefined,
): Promise<T> {
  const builder = isolation
    ? db.startTransaction().setIsolationLevel(isolation)
    : db.startTransaction();
  // A failed BEGIN releases its connection; a broken one is discarded by the pool.
  const trx = await builder.execute();
  let result: T;
  try {
    result = await work(trx);
  } catch (error) {
    await rollbackQuietly(trx);
    throw error;
  }
  try {
    await trx.commit().execute();
  } catch (error) {
    // The connection is still held after a failed COMMIT: ROLLBACK releases it (and is a no-op,
    // or fails, on a transaction the server already ended).
    await rollbackQuietly(trx);
    if (isConnectionFailure(error) || classifyDatabaseError(error)?.code === 'pglite-aborted') {
      throw new CommitOutcomeUnknownError(error);
    }
    throw error;
  }
  return result;
}

async function rollbackQuietly(trx: ControlledTransaction<Database>) {
  try {
    await trx.rollback().execute();
  } catch {
    // The connection is broken: the server rolls the transaction back itself.
  }
}
