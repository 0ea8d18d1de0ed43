import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import {
  createMemberRolesClient,
  type AccessDecision,
  type BatchItemResult,
  type InvitationCreated,
  type MemberRolesClient,
  type Problem,
} from '../client/index.js';
import { startTestService, type TestContext } from './support/context.js';
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

/**
 * Type-level tests: `tsc --noEmit` fails if any `@ts-expect-error` below stops being an error,
 * that is, if the client starts accepting a wrong path, body or parameter.
 */
export function typeLevelChecks(client: MemberRolesClient) {
  // @ts-expect-error a path the contract does not have
  void client.GET('/v1/organisations/{orgId}', { params: { path: { orgId: 'org_1' } } });
  void client.PUT('/v1/organizations/{orgId}/members/{userId}/role', {
    params: { path: { orgId: 'org_1', userId: 'u' } },
    // @ts-expect-error roleId is required
    body: {},
  });
  void client.PUT('/v1/organizations/{orgId}/members/{userId}/role', {
    params: { path: { orgId: 'org_1', userId: 'u' } },
    // @ts-expect-error roleId is a string
    body: { roleId: 42 },
  });
  void client.GET('/v1/organizations/{orgId}/members', {
    // @ts-expect-error limit is a number
    params: { path: { orgId: 'org_1' }, query: { limit: 'ten' } },
  });
  void client.PATCH('/v1/organizations/{orgId}/members/{userId}', {
    params: { path: { orgId: 'org_1', userId: 'u' } },
    // @ts-expect-error status is active or suspended
    body: { status: 'banned' },
  });
  void client.GET('/v1/organizations/{orgId}/members/{userId}', {
    // @ts-expect-error path parameters are required
    params: { path: { orgId: 'org_1' } },
  });
  void client.POST('/access/v1/evaluation', {
    body: {
      // @ts-expect-error subjects are users
      subject: { type: 'group', id: 'admins' },
      action: { name: 'org:read' },
      resource: { type: 'organization', id: 'org_1' },
    },
  });
  void client.POST('/access/v1/evaluation', {
    // @ts-expect-error a question needs a resource
    body: { subject: { type: 'user', id: 'u' }, action: { name: 'org:read' } },
  });
  void client.POST('/access/v1/evaluations', {
    // @ts-expect-error the semantics are AuthZEN's three
    body: { options: { evaluations_semantic: 'first_one' } },
  });
  void client.POST('/v1/organizations/{orgId}/members/batch', {
    params: { path: { orgId: 'org_1' } },
    // @ts-expect-error a batch item names one of the four operations
    body: { operations: [{ op: 'promote', userId: 'u' }] },
  });
  void client.POST('/v1/organizations/{orgId}/members/batch', {
    params: { path: { orgId: 'org_1' } },
    // @ts-expect-error set_role needs a roleId
    body: { operations: [{ op: 'set_role', userId: 'u' }] },
  });
  void client.POST('/v1/organizations/{orgId}/invitations', {
    params: { path: { orgId: 'org_1' } },
    // @ts-expect-error an invitation needs an email
    body: { roleId: 'member' },
  });
  void client.POST('/v1/invitations/accept', {
    // @ts-expect-error accepting names the user
    body: { token: 'mri_x', email: 'a@example.test' },
  });
}

describe('the client', () => {
  test('{ data, error } narrows: success gives a typed member, failure a typed problem', async () => {
    const ok = await org.owner.client.GET('/v1/organizations/{orgId}/me', {
      params: { path: { orgId: org.orgId } },
    });
    if (ok.error) throw new Error('expected success');
    const role: string = ok.data.role.id;
    expect(role).toBe('owner');

    const failed = await org.owner.client.GET('/v1/organizations/{orgId}/members/{userId}', {
      params: { path: { orgId: org.orgId, userId: 'nobody' } },
    });
    if (!failed.error) throw new Error('expected a problem');
    const problem: Problem = failed.error;
    expect(problem.code).toBe('NOT_FOUND');
    expect(problem.requestId).toBe(failed.response.headers.get('x-request-id'));
  });

  test('asks access questions like any other operation: a typed decision with a typed code', async () => {
    const { data } = await org.owner.client.POST('/access/v1/evaluation', {
      body: {
        subject: { type: 'user', id: org.owner.userId },
        action: { name: 'member.remove' },
        resource: {
          type: 'member',
          id: org.owner.userId,
          properties: { organizationId: org.orgId },
        },
      },
    });
    const decision: AccessDecision = data!;
    expect(decision.decision).toBe(false);
    const code: Problem['code'] | undefined = decision.context?.code;
    expect(code).toBe('OWNER_REQUIRED');
  });

  test('invites and batches like any other operation: a typed token once, typed per-item results', async () => {
    const created = await org.owner.client.POST('/v1/organizations/{orgId}/invitations', {
      params: { path: { orgId: org.orgId } },
      body: { email: 'client@example.test' },
    });
    const invitation: InvitationCreated = created.data!;
    expect(invitation.token.startsWith('mri_')).toBe(true);
    const { data } = await org.owner.client.POST('/v1/organizations/{orgId}/members/batch', {
      params: { path: { orgId: org.orgId } },
      body: {
        operations: [
          { op: 'add', userId: 'usr_client', email: 'client@example.test' },
          { op: 'remove', userId: org.owner.userId },
        ],
      },
    });
    const results: BatchItemResult[] = data!.results;
    expect(results.map((r) => r.status)).toEqual([201, 409]);
    const refused = results[1]!.body as Problem;
    expect(refused.code).toBe('OWNER_REQUIRED');
  });

  test('sends the request id it is given', async () => {
    const client = createMemberRolesClient({
      baseUrl: `${ctx.url}/`,
      apiKey: org.owner.key,
      requestId: () => 'client-chosen-id',
    });
    const { response } = await client.GET('/v1/permissions');
    expect(response.headers.get('x-request-id')).toBe('client-chosen-id');
  });

  test('retries a 429 that names a short Retry-After, then returns the final answer', async () => {
    let calls = 0;
    const client = createMemberRolesClient({
      baseUrl: ctx.url,
      apiKey: org.owner.key,
      fetch: async (input) => {
        calls += 1;
        if (calls === 1) {
          return new Response(
            '{"type":"urn:x","title":"t","status":429,"code":"RATE_LIMITED","requestId":"r"}',
            {
              status: 429,
              headers: { 'Retry-After': '0', 'content-type': 'application/problem+json' },
            },
          );
        }
        return fetch(input);
      },
    });
    const { data } = await client.GET('/v1/permissions');
    expect(calls).toBe(2);
    expect(data!.data).toHaveLength(14);
  });
});
