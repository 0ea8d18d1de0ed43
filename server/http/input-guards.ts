import type { NextFunction, Request, Response } from 'express';
import { AppError, type FieldError } from '../errors.js';
import { isStorableText, UNSTORABLE_MESSAGE } from '../domain/text.js';

/** No body of the contract nests deeper than a few levels; far deeper is refused outright. */
const MAX_DEPTH = 32;

/** A value met while walking a body: where it sits is kept as its key and parent. */
interface Visit {
  value: unknown;
  key: string | number;
  parent: Visit | undefined;
  depth: number;
}

/** The JSON pointer of a visited value ("/" for the body itself), made only for what is reported. */
function pointerOf(visit: Visit): string {
  const keys: string[] = [];
  for (let at: Visit | undefined = visit; at?.parent; at = at.parent) {
    keys.push(String(at.key).replaceAll('~', '~0').replaceAll('/', '~1'));
  }
  return keys.length === 0 ? '/' : `/${keys.reverse().join('/')}`;
}

/** Walks the parsed body without recursion, so no nesting can exhaust the stack. */
function inspect(body: unknown): FieldError[] {
  const found: FieldError[] = [];
  const stack: Visit[] = [{ value: body, key: '', parent: undefined, depth: 0 }];
  while (stack.length > 0 && found.length < 10) {
    const visit = stack.pop()!;
    const { value, depth } = visit;
    if (typeof value === 'string') {
      if (!isStorableText(value)) {
        found.push({ location: 'body', path: pointerOf(visit), message: UNSTORABLE_MESSAGE });
      }
      continue;
    }
    if (!value || typeof value !== 'object') continue;
    if (depth >= MAX_DEPTH) {
      found.push({
        location: 'body',
        path: pointerOf(visit),
        message: `nests deeper than ${MAX_DEPTH} levels`,
      });
      continue;
    }
    if (Array.isArray(value)) {
      for (let index = 0; index < value.length; index++) {
        stack.push({ value: value[index], key: index, parent: visit, depth: depth + 1 });
      }
      continue;
    }
    for (const key of Object.keys(value)) {
      const item = {
        value: (value as Record<string, unknown>)[key],
        key,
        parent: visit,
        depth: depth + 1,
      };
      if (!isStorableText(key)) {
        found.push({
          location: 'body',
          path: pointerOf(item),
          message: `the property name ${UNSTORABLE_MESSAGE}`,
        });
      }
      stack.push(item);
    }
  }
  return found;
}

/**
 * Refuses requests whose body or query holds text the database could not store or compare as
 * given, or whose body nests absurdly deep, before any validation.
 */
export function refuseUnstorableText(req: Request, _res: Response, next: NextFunction) {
  const found = inspect(req.body);
  for (const [name, value] of Object.entries(req.query)) {
    const values: unknown[] = Array.isArray(value) ? value : [value];
    if (values.some((v) => typeof v === 'string' && !isStorableText(v))) {
      found.push({ location: 'query', path: name, message: UNSTORABLE_MESSAGE });
    }
  }
  if (found.length > 0) {
    return next(
      new AppError('VALIDATION_FAILED', 'The request holds text that cannot be stored.', found),
    );
  }
  next();
}

/** A body without a declared media type is refused before parsing, not silently ignored. */
export function requireMediaType(req: Request, _res: Response, next: NextFunction) {
  const length = req.get('content-length');
  const hasBody =
    (length !== undefined && length !== '0') || req.get('transfer-encoding') !== undefined;
  if (hasBody && !req.get('content-type')) {
    return next(
      new AppError('UNSUPPORTED_MEDIA_TYPE', 'Send the request body as application/json.'),
    );
  }
  next();
}
