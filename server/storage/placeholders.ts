import type { CompiledQuery } from 'kysely';

/**
 * Statements built once with placeholders in place of their values, then only bound (see
 * `preparedRead` and `preparedWrite`): a placeholder names where its value is found (a path into
 * the values given), and compiling the statement shows which parameter each one became.
 */

/** Where a value is found: keys and indexes into the values given. */
export type Path = readonly (string | number)[];

/** A parameter of the compiled statement: a constant of its own, a value, or an array of them. */
export type Slot = { value: unknown } | { path: Path } | { each: Slot[] };

const MARK = '\u0001';

/** The placeholder for the value at `path`. */
export const placeholder = (path: Path): string => `${MARK}${JSON.stringify(path)}${MARK}`;

/** `value` with every value in it (in objects and arrays, each of theirs) a placeholder. */
export function placeholders(value: unknown, path: Path): unknown {
  if (value === undefined) return undefined;
  if (Array.isArray(value)) return value.map((item, i) => placeholders(item, [...path, i]));
  if (isPlainObject(value)) {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, placeholders(item, [...path, key])]),
    );
  }
  return placeholder(path);
}

/**
 * The slots of a statement compiled with placeholders. `what` names the statement in the errors:
 * each placeholder must have become a parameter of its own, unchanged, never text of the
 * statement nor part of an object bound whole.
 */
export function slotsOf(compiled: CompiledQuery, what: string): Slot[] {
  const slotOf = (parameter: unknown): Slot => {
    if (Array.isArray(parameter)) return { each: parameter.map(slotOf) };
    if (typeof parameter === 'object' && parameter !== null && !(parameter instanceof Date)) {
      // A value bound as one object (JSON) would keep the first call's placeholders inside it.
      if (holdsMark(parameter)) {
        throw new Error(`${what} bound an object holding values: bind each, or a string`);
      }
    }
    if (typeof parameter !== 'string' || !parameter.includes(MARK)) return { value: parameter };
    if (!parameter.startsWith(MARK) || !parameter.endsWith(MARK)) {
      throw new Error(`${what} changed its value ${JSON.stringify(parameter)}`);
    }
    return { path: JSON.parse(parameter.slice(1, -1)) as Path };
  };
  const slots = compiled.parameters.map(slotOf);
  if (compiled.sql.includes(MARK)) throw new Error(`${what} wrote a value into its text`);
  return slots;
}

/** The parameters of a statement's slots for the values given. */
export function bind(slots: readonly Slot[], values: unknown): unknown[] {
  return slots.map((slot) => valueOf(slot, values));
}

function valueOf(slot: Slot, values: unknown): unknown {
  if ('value' in slot) return slot.value;
  if ('each' in slot) return slot.each.map((item) => valueOf(item, values));
  let value = values;
  for (const key of slot.path) value = (value as Record<string | number, unknown>)[key];
  return value;
}

const holdsMark = (value: unknown): boolean =>
  typeof value === 'string'
    ? value.includes(MARK)
    : typeof value === 'object' && value !== null && Object.values(value).some(holdsMark);

export const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' &&
  value !== null &&
  (Object.getPrototypeOf(value) === Object.prototype || Object.getPrototypeOf(value) === null);
