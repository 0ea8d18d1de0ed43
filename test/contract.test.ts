import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { routes } from '../generated/routes.js';
import { PLATFORM_KEY, startTestService, type TestContext } from './support/context.js';
import { createOrg, type TestOrg } from './support/scenario.js';

let ctx: TestContext;
let org: TestOrg;
beforeAll(async () => {
  ctx = await startTestService();
  org = await createOrg(ctx);
});
afterAll(async () => {
  await ctx.stop();
});

const document = JSON.parse(
  readFileSync(new URL('../generated/openapi.json', import.meta.url), 'utf8'),
) as {
  paths: Record<
    string,
    Record<string, { operationId?: string; responses?: Record<string, unknown> }>
  >;
};
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'];

const SAMPLE: Record<string, string> = {
  orgId: 'org_01JD0000000000000000000000',
  userId: 'auth0|654a2f4d1b3c4e9a8d2f3c1b',
  roleId: 'admin',
  teamId: 'team_01JD0000000000000000000000',
  keyId: 'key_01JD0000000000000000000000',
};

describe('the contract is the truth', () => {
  test('the route table holds exactly the operations of the document', () => {
    const documented = Object.entries(document.paths).flatMap(([path, item]) =>
      METHODS.filter((m) => item[m]).map(
        (m) => `${m.toUpperCase()} ${path} ${item[m]!.operationId}`,
      ),
    );
    const routed = routes.map((r) => `${r.method.toUpperCase()} ${r.path} ${r.operationId}`);
    expect(routed.sort()).toEqual(documented.sort());
  });

  test.each(routes.map((r) => [r.operationId, r] as const))(
    '%s is routed to a handler that answers a status the document lists',
    async (_id, route) => {
      const path = route.path.replace(/\{(\w+)\}/g, (_m, name: string) =>
        encodeURIComponent(SAMPLE[name] ?? 'x'),
      );
      const res = await fetch(`${ctx.url}${path}`, {
        method: route.method.toUpperCase(),
        headers: { Authorization: `Bearer ${PLATFORM_KEY}`, 'content-type': 'application/json' },
        ...(['post', 'put', 'patch'].includes(route.method) ? { body: '{}' } : {}),
      });
      const documented = Object.keys(document.paths[route.path]![route.method]!.responses ?? {});
      expect(documented).toContain(String(res.status));
      const type = res.headers.get('content-type') ?? '';
      if (res.status !== 204)
        expect(type).toMatch(/^(application\/(json|problem\+json|yaml)|text\/(html|plain))/);
    },
  );

  test('a path the document does not have is 404 problem+json', async () => {
    const res = await fetch(`${ctx.url}/v1/nothing-here`);
    expect(res.status).toBe(404);
    expect(((await res.json()) as { code: string }).code).toBe('NOT_FOUND');
  });

  test('a method the path does not have is 405 METHOD_NOT_ALLOWED with Allow', async () => {
    const res = await fetch(`${ctx.url}/v1/permissions`, {
      method: 'DELETE',
      headers: { Authorization: `Bearer ${org.owner.key}` },
    });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toMatch(/GET/);
    expect(((await res.json()) as { code: string }).code).toBe('METHOD_NOT_ALLOWED');
  });
});

describe('bad input gets a clear answer', () => {
  const post = (body: string, contentType?: string) =>
    fetch(`${ctx.url}/v1/organizations/${org.orgId}/members`, {
      method: 'POST',
      headers: {
        Authorization: `Bearer ${org.owner.key}`,
        ...(contentType ? { 'content-type': contentType } : {}),
      },
      body,
    });

  test('malformed JSON is 400 VALIDATION_FAILED problem+json without internals', async () => {
    const res = await post('{"userId": "x", ', 'application/json');
    expect(res.status).toBe(400);
    const problem = (await res.json()) as Record<string, unknown>;
    expect(problem).toMatchObject({ code: 'VALIDATION_FAILED', status: 400 });
    expect(JSON.stringify(problem)).not.toMatch(/at .*\.js|SyntaxError|node_modules/);
  });

  test('a body without a content type or with text/plain is 415 UNSUPPORTED_MEDIA_TYPE', async () => {
    for (const type of [undefined, 'text/plain']) {
      const res = await post('{"userId":"u1","email":"u1@example.test"}', type);
      expect(res.status).toBe(415);
      expect(((await res.json()) as { code: string }).code).toBe('UNSUPPORTED_MEDIA_TYPE');
    }
  });

  test('a body over the limit is 413 PAYLOAD_TOO_LARGE', async () => {
    const res = await post(
      JSON.stringify({ userId: 'u', email: 'a@b.test', name: 'x'.repeat(100_000) }),
      'application/json',
    );
    expect(res.status).toBe(413);
    expect(((await res.json()) as { code: string }).code).toBe('PAYLOAD_TOO_LARGE');
  });

  test('an unknown query parameter is 400 VALIDATION_FAILED naming it', async () => {
    const res = await fetch(`${ctx.url}/v1/organizations/${org.orgId}/members?colour=red`, {
      headers: { Authorization: `Bearer ${org.owner.key}` },
    });
    expect(res.status).toBe(400);
    const problem = (await res.json()) as { errors: { location: string }[] };
    expect(problem.errors[0]!.location).toBe('query');
  });
});

describe('operational endpoints', () => {
  test('healthz and readyz answer without a key', async () => {
    expect(await (await fetch(`${ctx.url}/healthz`)).json()).toEqual({ status: 'ok' });
    expect(await (await fetch(`${ctx.url}/readyz`)).json()).toEqual({
      status: 'ok',
      database: 'ok',
    });
  });

  test('the contract is served as JSON and YAML, and the Redoc page is self-contained', async () => {
    const json = (await (await fetch(`${ctx.url}/openapi.json`)).json()) as { openapi: string };
    expect(json.openapi).toMatch(/^3\.1\./);
    const yaml = await fetch(`${ctx.url}/openapi.yaml`);
    expect(yaml.headers.get('content-type')).toMatch(/yaml/);
    expect(await yaml.text()).toMatch(/^openapi: 3\.1/m);
    const docs = await fetch(`${ctx.url}/docs`);
    const html = await docs.text();
    expect(docs.headers.get('content-type')).toMatch(/text\/html/);
    expect(html).toContain('redoc');
    expect(html).not.toMatch(/<script[^>]+src="https?:/);
  });

  test('every response carries X-Request-Id (echoed when given) and security headers', async () => {
    const res = await fetch(`${ctx.url}/v1/organizations/${org.orgId}/me`, {
      headers: { Authorization: `Bearer ${org.owner.key}`, 'X-Request-Id': 'trace-123' },
    });
    expect(res.headers.get('x-request-id')).toBe('trace-123');
    expect(res.headers.get('x-powered-by')).toBeNull();
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    const failed = await fetch(`${ctx.url}/v1/organizations/${org.orgId}/me`);
    const problem = (await failed.json()) as { requestId: string };
    expect(problem.requestId).toBe(failed.headers.get('x-request-id'));
  });

  test('answers of the API carry the security headers of a JSON API; pages carry those of an HTML page', async () => {
    const answered = await fetch(`${ctx.url}/v1/organizations/${org.orgId}/me`, {
      headers: { Authorization: `Bearer ${org.owner.key}` },
    });
    const refused = await fetch(`${ctx.url}/v1/organizations/${org.orgId}/me`);
    for (const res of [answered, refused]) {
      expect(Object.fromEntries(res.headers)).toMatchObject({
        'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
        'x-frame-options': 'DENY',
        'x-content-type-options': 'nosniff',
        'strict-transport-security': expect.stringMatching(/^max-age=\d+/),
      });
      // Helmet's headers for HTML documents are not sent with JSON.
      expect(res.headers.get('x-dns-prefetch-control')).toBeNull();
      expect(res.headers.get('origin-agent-cluster')).toBeNull();
    }
    const docs = await fetch(`${ctx.url}/docs`);
    expect(docs.headers.get('content-security-policy')).toContain(
      "script-src 'self' 'unsafe-inline'",
    );
    expect(docs.headers.get('x-frame-options')).toBe('SAMEORIGIN');
    expect(docs.headers.get('x-content-type-options')).toBe('nosniff');
  });
});
