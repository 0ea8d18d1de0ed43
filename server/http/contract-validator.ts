import { createRequire } from 'node:module';
import * as OpenApiValidator from 'express-openapi-validator';
import { presented } from './credentials.js';
import type { ServiceRequest } from './service-request.js';

/**
 * Stage `validator`: requests (and, outside production, responses) are checked against the
 * contract before any handler runs. The security schemes need a presented credential; whether
 * it is valid is answered with the request's own statement (an unknown key is 401 there).
 */
export function contractValidator(document: object, validateResponses: boolean) {
  cacheRouteMatchers();
  return OpenApiValidator.middleware({
    apiSpec: structuredClone(document) as never,
    validateApiSpec: false,
    // Full format checks: an impossible date (2026-02-30) or email (a..b@x) is refused, not stored.
    validateFormats: true,
    ajvFormats: { mode: 'full' },
    validateRequests: {
      allowUnknownQueryParameters: false,
      allErrors: true,
      removeAdditional: false,
    },
    validateResponses: validateResponses ? { allErrors: true, removeAdditional: false } : false,
    validateSecurity: {
      handlers: {
        bearerAuth: (req) => presented(req as ServiceRequest),
        apiKeyHeader: (req) => presented(req as ServiceRequest),
      },
    },
    ignoreUndocumented: false,
  });
}

type PathToRegexp = (path: string, options?: object) => unknown;

/**
 * express-openapi-validator 5.6 compiles the matcher of every route of the contract on every
 * request to find the request's operation (upstream pull request #1217 caches them; not released).
 * A matcher depends only on its path and options, so the `path-to-regexp` module it calls keeps
 * each one it made. In a profile of getMember under load this was 4% of the process's time.
 */
function cacheRouteMatchers() {
  const validatorRequire = createRequire(
    createRequire(import.meta.url).resolve('express-openapi-validator'),
  );
  const module = validatorRequire('path-to-regexp') as {
    pathToRegexp: PathToRegexp & { cached?: true };
  };
  if (module.pathToRegexp.cached) return;
  const compile = module.pathToRegexp;
  const matchers = new Map<string, unknown>();
  const cached: PathToRegexp & { cached?: true } = (path, options) => {
    // The validator's only call passes { sensitive, strict }: a key from those two is enough.
    const { sensitive, strict, ...other } = (options ?? {}) as Record<string, unknown>;
    const key =
      Object.keys(other).length === 0
        ? `${String(path)}\u0000${sensitive === true}${strict === true}`
        : `${String(path)}\u0000${JSON.stringify(options)}`;
    let matcher = matchers.get(key);
    if (matcher === undefined) {
      matcher = compile(path, options);
      if (typeof path === 'string' && matchers.size < 10_000) matchers.set(key, matcher);
    }
    return matcher;
  };
  cached.cached = true;
  module.pathToRegexp = cached;
}
