import { AppError } from '../errors.js';
import { isStorableText } from './text.js';

/** Where a cursor came from, to point at it when it is refused. */
export interface CursorPlace {
  location: 'query' | 'body';
  path: string;
}

const QUERY_CURSOR: CursorPlace = { location: 'query', path: 'cursor' };

const badCursor = (place: CursorPlace = QUERY_CURSOR) =>
  new AppError('VALIDATION_FAILED', 'The cursor is not one this list issued.', [
    { ...place, message: 'not a cursor of this list' },
  ]);

/**
 * Opaque keyset cursors: base64url JSON naming the list, the organization and the last key
 * seen. A cursor from another list or organization, or one that does not decode, is refused.
 */
export function encodeCursor(list: string, orgId: string, key: unknown[]): string {
  return Buffer.from(JSON.stringify({ l: list, o: orgId, k: key })).toString('base64url');
}

export function decodeCursor(
  cursor: string,
  list: string,
  orgId: string,
  place: CursorPlace = QUERY_CURSOR,
): unknown[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    parsed = undefined;
  }
  const value = parsed as { l?: unknown; o?: unknown; k?: unknown } | undefined;
  if (!value || value.l !== list || value.o !== orgId || !Array.isArray(value.k)) {
    throw badCursor(place);
  }
  return value.k;
}

/** A key the list could have issued: an id-sized string the database can compare. */
export function keyString(
  key: unknown[],
  index: number,
  place: CursorPlace = QUERY_CURSOR,
): string {
  const value = key[index];
  if (typeof value !== 'string' || value.length > 255 || !isStorableText(value)) {
    throw badCursor(place);
  }
  return value;
}

/** A key the list could have issued: a non-negative 32-bit integer. */
export function keyNumber(key: unknown[], index: number): number {
  const value = key[index];
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 2 ** 31 - 1) {
    throw badCursor();
  }
  return value;
}

/** Fetches one row more than asked to learn whether another page exists. */
export function pageOf<Row, Item>(
  rows: Row[],
  limit: number,
  toItem: (row: Row) => Item,
  cursorOf: (row: Row) => string,
): { data: Item[]; nextCursor: string | null } {
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return {
    data: page.map(toItem),
    nextCursor: rows.length > limit && last !== undefined ? cursorOf(last) : null,
  };
}
