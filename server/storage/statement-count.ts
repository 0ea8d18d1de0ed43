import { AsyncLocalStorage } from 'node:async_hooks';
import type { LogEvent } from 'kysely';

const counts = new AsyncLocalStorage<{ statements: number }>();

/**
 * Runs `work` counting the database statements (round trips) it causes, BEGIN and COMMIT
 * included: every request is served inside one count, and its log line says how many it took.
 */
export function countingStatements<T>(work: () => T): T {
  return counts.run({ statements: 0 }, work);
}

/** The statements counted so far in the current count (undefined outside one). */
export function statementsSoFar(): number | undefined {
  return counts.getStore()?.statements;
}

/** Kysely's `log` hook: called once for every statement sent, whether it succeeded or failed. */
export function countStatement(_event: LogEvent): void {
  const store = counts.getStore();
  if (store) store.statements += 1;
}
