import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { ERROR_STATUS, type ErrorCode } from '../server/errors.js';
import { startTestService, type TestContext } from './support/context.js';
import { createOrg } from './support/scenario.js';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await startTestService();
});
afterAll(async () => {
  await ctx.stop();
});

describe('getProblemType', () => {
  test("every code of the contract's catalogue has a page at its problem type, with its status and meaning", async () => {
    const codes = Object.keys(ERROR_STATUS) as ErrorCode[];
    for (const code of codes) {
      const type = `/problems/${code.toLowerCase().replaceAll('_', '-')}`;
      const res = await fetch(new URL(type, ctx.url));
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
      const html = await res.text();
      expect(html).toContain(`<code>${code}</code>`);
      expect(html).toContain(`HTTP status <strong>${ERROR_STATUS[code]}</strong>`);
    }
    // The meaning comes from the ErrorCode table of the contract.
    const ceiling = await (await fetch(new URL('/problems/privilege-ceiling', ctx.url))).text();
    expect(ceiling).toContain(
      'The change would grant or take away a permission the caller does not hold.',
    );
  });

  test('the type of a real refusal resolves to its page', async () => {
    const org = await createOrg(ctx);
    const { error } = await org.owner.client.POST('/v1/organizations/{orgId}/members', {
      params: { path: { orgId: org.orgId } },
      body: { userId: 'usr_x', email: 'x@example.test', roleId: 'owner' },
    });
    const res = await fetch(new URL(error!.type, ctx.url));
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('<code>VALIDATION_FAILED</code>');
  });

  test('a code the catalogue does not hold is 404 NOT_FOUND; a malformed one 400', async () => {
    const unknown = await fetch(new URL('/problems/no-such-code', ctx.url));
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { code: string }).code).toBe('NOT_FOUND');
    const malformed = await fetch(new URL('/problems/NOT_FOUND', ctx.url));
    expect(malformed.status).toBe(400);
    expect(((await malformed.json()) as { code: string }).code).toBe('VALIDATION_FAILED');
  });
});
