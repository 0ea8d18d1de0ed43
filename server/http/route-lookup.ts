import { createRequire } from 'node:module';
import type { NextFunction, Request, Response } from 'express';

/**
 * express-openapi-validator finds a request's operation (its "metadata" middleware) by trying
 * every route of the contract in turn, compiling or fetching each one's matcher and building a few
 * objects per route: fourteen microseconds for a path near the end of its order, most of the
 * validator's time on a read. `indexedMetadata` is that middleware with the same answers (the same
 * `req.openapi`, the same 404, 405 and malformed-URI errors) from an index: it tries only the
 * routes with as many path segments as the request, in the validator's own order, with matchers
 * compiled once. test/route-lookup.test.ts checks that both give the same answer for every route of
 * the contract and for paths that match none.
 *
 * Written against express-openapi-validator 5.6 (pinned in package.json); `useIndexedRouteLookup`
 * refuses to start against a version whose internals it does not know.
 */

interface MethodsOfRoute {
  basePath: string;
  _openApiRoute: string;
  _expressRoute: string;
}

type Operation = Record<string, unknown>;
type PathItems = Record<string, Record<string, Operation | undefined>>;

/** The validator's view of the contract (its `OpenApiContext`), as far as the lookup reads it. */
export interface OpenApiContext {
  apiDoc: { paths: PathItems };
  expressRouteMap: Record<string, MethodsOfRoute>;
  openApiRouteMap: Record<string, MethodsOfRoute & Record<string, unknown>>;
  useRequestUrl: boolean;
  ignoreUndocumented: boolean;
  serial: number;
  shouldIgnoreRoute(path: string): boolean | undefined;
  isManagedRoute(path: string): boolean;
}

export interface ResponseApiDoc {
  paths: PathItems;
}

/** What the validator notes on a request it routed (`req.openapi`). */
export interface OpenApiMetadata {
  expressRoute: string;
  openApiRoute: string;
  pathParams: Record<string, string>;
  schema: Operation;
  serial: number;
  _responseSchema?: Operation;
}

type Metadata = (
  context: OpenApiContext,
  responseApiDoc?: ResponseApiDoc,
) => (req: Request, res: Response, next: NextFunction) => void;

interface ValidatorInternals {
  OpenApiValidator: { prototype: { metadataMiddleware: Metadata } };
  types: {
    BadRequest: new (args: { path: string; message: string }) => Error;
    NotFound: new (args: { path: string; message: string }) => Error;
    MethodNotAllowed: new (args: {
      path: string;
      message: string;
      headers: Record<string, string>;
    }) => Error;
  };
  httpMethods: Set<string>;
  pathToRegexp: (
    path: string,
    options: { sensitive: boolean; strict: boolean },
  ) => { regexp: RegExp; keys: { name: string }[] };
  applyOpenApiMetadata: Metadata;
}

const SUPPORTED_VERSION = /^5\.6\./;

/** The validator's modules the lookup builds on (CommonJS, loaded from its own directory). */
export function validatorInternals(): ValidatorInternals {
  const entry = createRequire(import.meta.url).resolve('express-openapi-validator');
  const load = createRequire(entry);
  const { version } = load('../package.json') as { version: string };
  if (!SUPPORTED_VERSION.test(version)) {
    throw new Error(
      `server/http/route-lookup.ts knows express-openapi-validator 5.6, not ${version}: check its metadata middleware and update the lookup`,
    );
  }
  return {
    OpenApiValidator: (
      load('./openapi.validator.js') as Pick<ValidatorInternals, 'OpenApiValidator'>
    ).OpenApiValidator,
    types: load('./framework/types.js') as ValidatorInternals['types'],
    httpMethods: (
      load('./middlewares/parsers/schema.preprocessor.js') as { httpMethods: Set<string> }
    ).httpMethods,
    pathToRegexp: (load('path-to-regexp') as Pick<ValidatorInternals, 'pathToRegexp'>).pathToRegexp,
    applyOpenApiMetadata: (
      load('./middlewares/openapi.metadata.js') as Pick<ValidatorInternals, 'applyOpenApiMetadata'>
    ).applyOpenApiMetadata,
  };
}

/** Makes every validator created from now on find routes with `indexedMetadata`. */
export function useIndexedRouteLookup(): void {
  const internals = validatorInternals();
  const prototype = internals.OpenApiValidator.prototype;
  if ((prototype.metadataMiddleware as { indexed?: true }).indexed) return;
  const metadata: Metadata & { indexed?: true } = (context, responseApiDoc) =>
    indexedMetadata(internals, context, responseApiDoc);
  metadata.indexed = true;
  prototype.metadataMiddleware = metadata;
}

interface Route {
  expressRoute: string;
  openApiRoute: string;
  /** The route's key in `paths` of the contract. */
  pathKey: string;
  /** Its matcher, per `sensitive`/`strict` setting of the app, compiled the first time asked. */
  matchers: Map<string, { regexp: RegExp; keys: string[] }>;
}

/**
 * A path's segments as a route matches them: `/v1/organizations/x` has 3, and so has
 * `/v1/organizations/x/`, since path-to-regexp 8 lets every route end with one slash more (it has
 * no `strict` option; the operation stage refuses that spelling later).
 */
function segmentsOf(path: string): number {
  const end = path.length > 1 && path.endsWith('/') ? path.length - 1 : path.length;
  let count = 0;
  for (let i = 0; i < end; i += 1) if (path.charCodeAt(i) === 47) count += 1;
  return count;
}

/** Routes made only of `/literal` and `/:param` segments match paths of their own length only. */
const PLAIN_ROUTE = /^(\/(:?[A-Za-z0-9_.\-~]+))*$/;

/** The validator's metadata middleware, answering from an index of the routes. */
export function indexedMetadata(
  internals: ValidatorInternals,
  context: OpenApiContext,
  responseApiDoc?: ResponseApiDoc,
) {
  const { types, httpMethods, pathToRegexp } = internals;
  const routes: (Route & { segments: number | undefined })[] = Object.entries(
    context.expressRouteMap,
  ).map(([expressRoute, methods]) => ({
    expressRoute,
    openApiRoute: methods._openApiRoute,
    pathKey: methods._openApiRoute.substring(methods.basePath.length),
    matchers: new Map(),
    segments: PLAIN_ROUTE.test(expressRoute) ? segmentsOf(expressRoute) : undefined,
  }));
  // The candidates for a path of n segments, in the validator's order: the plain routes of n
  // segments and every other route (which may match paths of any length).
  const others = routes.filter((route) => route.segments === undefined);
  const bySegments = new Map<number, Route[]>();
  for (const route of routes) {
    if (route.segments === undefined || bySegments.has(route.segments)) continue;
    const n = route.segments;
    bySegments.set(
      n,
      routes.filter((r) => r.segments === undefined || r.segments === n),
    );
  }

  function matcherOf(route: Route, sensitive: boolean, strict: boolean) {
    const key = sensitive ? (strict ? 'ss' : 's') : strict ? 't' : '';
    let matcher = route.matchers.get(key);
    if (matcher === undefined) {
      const compiled = pathToRegexp(route.expressRoute, { sensitive, strict });
      matcher = { regexp: compiled.regexp, keys: compiled.keys.map((k) => k.name) };
      route.matchers.set(key, matcher);
    }
    return matcher;
  }

  function lookupRoute(req: Request) {
    const path = (context.useRequestUrl ? req.url : req.originalUrl).split('?')[0]!;
    const method = req.method.toLowerCase();
    const strict = !!req.app.enabled('strict routing');
    const sensitive = !!req.app.enabled('case sensitive routing');
    const candidates = bySegments.get(segmentsOf(path)) ?? others;
    for (const route of candidates) {
      const { regexp, keys } = matcherOf(route, sensitive, strict);
      const matched = regexp.exec(path);
      if (!matched) continue;
      let pathParams: Record<string, string>;
      try {
        pathParams = {};
        for (let i = 0; i < keys.length; i += 1) {
          pathParams[keys[i]!] = decodeURIComponent(matched[i + 1]!);
        }
      } catch {
        throw new types.BadRequest({ path: req.path, message: `malformed uri'` });
      }
      return {
        schema: context.apiDoc.paths[route.pathKey]![method],
        expressRoute: route.expressRoute,
        openApiRoute: route.openApiRoute,
        pathParams,
        _responseSchema: responseApiDoc?.paths[route.pathKey]![method],
      };
    }
    return null;
  }

  // From here on, the validator's own middleware (openapi.metadata.js), unchanged.
  return (req: Request, _res: Response, next: NextFunction) => {
    const path = req.path.startsWith(req.baseUrl) ? req.path : `${req.baseUrl}/${req.path}`;
    if (context.shouldIgnoreRoute(path)) return next();
    const matched = lookupRoute(req);
    if (matched) {
      const { expressRoute, openApiRoute, pathParams, schema } = matched;
      if (!schema) {
        // The path is the contract's, the method is not.
        if (context.ignoreUndocumented) return next();
        throw new types.MethodNotAllowed({
          path: req.path,
          message: `${req.method} method not allowed`,
          headers: {
            Allow: Object.keys(context.openApiRouteMap[openApiRoute]!)
              .filter((key) => httpMethods.has(key.toLowerCase()))
              .join(', '),
          },
        });
      }
      const openapi: OpenApiMetadata = {
        expressRoute,
        openApiRoute,
        pathParams,
        schema,
        serial: context.serial,
      };
      if (responseApiDoc) openapi._responseSchema = matched._responseSchema;
      (req as Request & { openapi?: OpenApiMetadata }).openapi = openapi;
      req.params = pathParams;
    } else if (context.isManagedRoute(path) && !context.ignoreUndocumented) {
      throw new types.NotFound({ path: req.path, message: 'not found' });
    }
    next();
  };
}
