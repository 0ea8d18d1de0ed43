import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { beforeAll, describe, expect, test } from '@jest/globals';
import express from 'express';
import { routes } from '../generated/routes.js';
import {
  indexedMetadata,
  validatorInternals,
  type OpenApiContext,
  type ResponseApiDoc,
} from '../server/http/route-lookup.js';

// The validator's own route lookup and the indexed one must answer alike: the same operation, the
// same decoded path parameters, the same 404, 405 and malformed-URI errors, for every route of
// the contract, with the app's routing settings and without them.

const document = JSON.parse(
  readFileSync(new URL('../generated/openapi.json', import.meta.url), 'utf8'),
) as object;
const internals = validatorInternals();
const load = createRequire(createRequire(import.meta.url).resolve('express-openapi-validator'));

let context: OpenApiContext;
let responseApiDoc: ResponseApiDoc;

beforeAll(async () => {
  const { OpenApiSpecLoader } = load('./framework/openapi.spec.loader.js') as {
    OpenApiSpecLoader: new (options: object) => { load(): Promise<{ apiDoc: ResponseApiDoc }> };
  };
  const { OpenApiContext: Context } = load('./framework/openapi.context.js') as {
    OpenApiContext: new (spec: object, ignore: undefined, undocumented: boolean) => OpenApiContext;
  };
  const spec = await new OpenApiSpecLoader({
    apiDoc: structuredClone(document),
    validateApiSpec: false,
    $refParser: { mode: 'bundle' },
  }).load();
  context = new Context(spec, undefined, false);
  responseApiDoc = spec.apiDoc;
});

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'];
const VALUES = ['org_01JB0000000000000000000000', 'caf%C3%A9', 'a%2Fb', 'x.y', '%E0%A4%A'];

/** Paths to ask about: every route with several parameter values and spellings, and strays. */
function paths(): string[] {
  const asked = new Set<string>([
    '/',
    '/v1',
    '/v1/',
    '/v1/nothing',
    '/v2/organizations',
    '/v1/organizations/a/b/c/d/e/f/g',
    '/access/v1/evaluation/extra',
    '/openapi.json',
  ]);
  for (const route of routes) {
    for (const value of VALUES) {
      const path = route.path.replace(/\{[^}]+\}/g, value);
      for (const spelled of [path, `${path}/`, path.toUpperCase(), `${path}?limit=2`]) {
        asked.add(spelled);
      }
    }
  }
  return [...asked];
}

type Outcome =
  | { error: { name: string; status?: number; message: string; headers?: unknown } }
  | { next: true; openapi: unknown; params: unknown };

function outcome(
  middleware: (req: express.Request, res: express.Response, next: () => void) => void,
  app: express.Express,
  method: string,
  url: string,
): Outcome {
  const req = {
    app,
    method,
    url,
    originalUrl: url,
    path: url.split('?')[0],
    baseUrl: '',
    params: {},
  } as unknown as express.Request & { openapi?: unknown };
  try {
    let called = false;
    middleware(req, {} as express.Response, () => (called = true));
    expect(called).toBe(true);
    return { next: true, openapi: req.openapi, params: req.params };
  } catch (error) {
    const e = error as Error & { status?: number; headers?: unknown };
    return {
      error: { name: e.constructor.name, status: e.status, message: e.message, headers: e.headers },
    };
  }
}

function appWith(settings: { strict: boolean; sensitive: boolean }) {
  const app = express();
  app.set('strict routing', settings.strict);
  app.set('case sensitive routing', settings.sensitive);
  return app;
}

describe('the indexed route lookup answers as express-openapi-validator’s own', () => {
  for (const settings of [
    { strict: true, sensitive: true },
    { strict: false, sensitive: false },
  ]) {
    test(`for every route, spelling and method (strict ${settings.strict}, case-sensitive ${settings.sensitive})`, () => {
      const app = appWith(settings);
      for (const withResponses of [false, true]) {
        const responses = withResponses ? responseApiDoc : undefined;
        const original = internals.applyOpenApiMetadata(context, responses);
        const indexed = indexedMetadata(internals, context, responses);
        let routed = 0;
        for (const url of paths()) {
          for (const method of METHODS) {
            const expected = outcome(original, app, method, url);
            expect({ method, url, ...outcome(indexed, app, method, url) }).toEqual({
              method,
              url,
              ...expected,
            });
            if ('next' in expected && expected.openapi) routed += 1;
          }
        }
        // Every operation of the contract was found at least once.
        expect(routed).toBeGreaterThanOrEqual(routes.length);
      }
    });
  }

  test('a request reaches the operation its path names (getMember, with decoded parameters)', () => {
    const app = appWith({ strict: true, sensitive: true });
    const found = outcome(
      indexedMetadata(internals, context),
      app,
      'GET',
      '/v1/organizations/org_1/members/caf%C3%A9',
    );
    expect(found).toMatchObject({
      next: true,
      openapi: {
        openApiRoute: '/v1/organizations/{orgId}/members/{userId}',
        schema: { operationId: 'getMember' },
      },
      params: { orgId: 'org_1', userId: 'café' },
    });
  });
});
