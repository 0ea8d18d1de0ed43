/**
 * The one place that reads the database's failures: which mean "the database cannot serve now"
 * (answered 503, never 500), and which of those broke the connection itself.
 */

/**
 * The connection broke, or could not be made: nothing sent on it afterwards took effect, and a
 * new connection may well work (a restarted server, a terminated backend, a failover).
 */
const CONNECTION_ERRNOS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
]);
const CONNECTION_SQLSTATES = new Set([
  '57P01', // admin_shutdown: the server is stopping, or pg_terminate_backend
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now: starting up, shutting down, in recovery
]);
/** pg and pg-pool say these in words only. */
const CONNECTION_MESSAGES: [RegExp, string][] = [
  [/^Connection terminated unexpectedly/, 'connection-terminated'],
  [/^Connection terminated$/, 'connection-terminated'],
  [/not queryable/, 'connection-broken'],
];

/** The database answers, but cannot work now: waiting helps, running again at once does not. */
const UNAVAILABLE_SQLSTATES = new Set([
  '25006', // read_only_sql_transaction: connected to a standby (a failover in progress)
  '57014', // query_canceled: statement_timeout (a stuck lock or an overloaded server)
  '40001', // serialization_failure, when running again did not help
  '40P01', // deadlock_detected, likewise
]);
const UNAVAILABLE_MESSAGES: [RegExp, string][] = [
  [/^Connection terminated due to connection timeout/, 'connect-timeout'],
  [/^timeout exceeded when trying to connect/, 'pool-timeout'],
  [/^Cannot use a pool after calling end/, 'pool-closed'],
  [/^driver has already been destroyed/, 'pool-closed'],
  // PGlite, the embedded engine: it does not come back once closed or aborted.
  [/^PGlite is clos(ed|ing)/, 'pglite-closed'],
  [/^Aborted\(/, 'pglite-aborted'],
];

export type DatabaseFailure = {
  /** `connection`: the connection broke; `unavailable`: the database cannot serve now. */
  kind: 'connection' | 'unavailable';
  /** The database's own code (SQLSTATE, errno or a short name): for the log, never for clients. */
  code: string;
};

function classifyOne(error: unknown): DatabaseFailure | undefined {
  if (!error || typeof error !== 'object') return undefined;
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (typeof code === 'string') {
    if (CONNECTION_ERRNOS.has(code) || CONNECTION_SQLSTATES.has(code) || code.startsWith('08')) {
      return { kind: 'connection', code };
    }
    if (UNAVAILABLE_SQLSTATES.has(code) || code.startsWith('53')) {
      return { kind: 'unavailable', code }; // class 53: insufficient resources (too many connections…)
    }
  }
  if (typeof message === 'string') {
    for (const [pattern, name] of CONNECTION_MESSAGES) {
      if (pattern.test(message)) return { kind: 'connection', code: name };
    }
    for (const [pattern, name] of UNAVAILABLE_MESSAGES) {
      if (pattern.test(message)) return { kind: 'unavailable', code: name };
    }
  }
  if (error instanceof AggregateError) {
    // Connecting to a name with several addresses fails with one error per address.
    for (const inner of error.errors) {
      const failure = classifyOne(inner);
      if (failure) return failure;
    }
  }
  return undefined;
}

/** What a database failure means, or undefined when the error is not one of those. */
export function classifyDatabaseError(error: unknown): DatabaseFailure | undefined {
  for (let e = error, depth = 0; e && depth < 5; depth += 1) {
    const failure = classifyOne(e);
    if (failure) return failure;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** True when the connection itself broke or could not be made. */
export function isConnectionFailure(error: unknown): boolean {
  return classifyDatabaseError(error)?.kind === 'connection';
}

/**
 * The connection died after COMMIT was sent and before its answer came: the change may or may
 * not have been applied. Never reported as a plain failure.
 */
export class CommitOutcomeUnknownError extends Error {
  readonly databaseCode: string;
  constructor(cause: unknown) {
    super('the connection to the database was lost during COMMIT', { cause });
    this.name = 'CommitOutcomeUnknownError';
    this.databaseCode = classifyDatabaseError(cause)?.code ?? 'unknown';
  }
}
