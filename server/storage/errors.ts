/** True when the error is PostgreSQL's unique_violation (on the named constraint or index, if given). */
export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  const e = error as { code?: unknown; constraint?: unknown; message?: unknown } | null;
  if (!e || e.code !== '23505') return false;
  if (constraint === undefined) return true;
  const message = typeof e.message === 'string' ? e.message : '';
  return e.constraint === constraint || message.includes(`"${constraint}"`);
}
