/** True when the error is PostgreSQL's unique_violation (on the named constraint or index, if given). */
export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  const e = error as { code?: unknown; constraint?: unknown; message?: unknown } | null;
  if (!e || e.code !== '23505') return false;
  if (constraint === undefined) return true;
  const message = typeof e.message === 'string' ? e.message : '';
  return e.constraint === constraint || message.includes(`"${constraint}"`);
}

/** Runs `work`, answering a unique violation on `constraint` with the error `toError` makes. */
export async function onUniqueViolation<T>(
  constraint: string,
  toError: () => Error,
  work: () => Promise<T>,
): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (isUniqueViolation(error, constraint)) throw toError();
    throw error;
  }
}
