import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import {
  createMemberRolesClient,
  ProblemError,
  type ListPath,
  type Member,
  type MemberRolesClient,
} from '../client/index.js';
import { PLATFORM_KEY, startTestService, type TestContext } from './support/context.js';
import { addActor, createOrg, mintKey, type TestActor, type TestOrg } from './support/scenario.js';

/**
 * Every list operation of the contract, as `paginate()` sees it. Typed `Record<ListPath, true>`:
 * a list path missing here or a path that is not a list is a compile error, so this object is
 * exactly the type-level `ListPath`; the first test below checks it against the contract itself.
 */
const LIST_PATHS: Record<ListPath, true> = {
  '/v1/organizations/{orgId}/members': true,
  '/v1/organizations/{orgId}/roles': true,
  '/v1/organizations/{orgId}/teams': true,
  '/v1/organizations/{orgId}/teams/{teamId}/members': true,
  '/v1/organizations/{orgId}/audit-events': true,
  '/v1/organizations/{orgId}/members/{userId}/api-keys': true,
  '/v1/organizations': true,
  '/v1/users/{userId}/memberships': true,
  '/v1/organizations/{orgId}/invitations': true,
  '/v1/organizations/{orgId}/webhook-endpoints': true,
  '/v1/organizations/{orgId}/webhook-endpoints/{endpointId}/deliveries': true,
};

/** Lists of the deployment, not of one organization: walked with the platform key. */
const PLATFORM_LISTS = new Set<string>(['/v1/organizations', '/v1/users/{userId}/memberships']);
const listPaths = Object.keys(LIST_PATHS) as ListPath[];

interface JsonNode {
  $ref?: string;
  [key: string]: unknown;
}

/** The GET operations whose 200 answer is `{ data: [...], nextCursor }`, read from the contract. */
function contractListPaths(): string[] {
  const doc = JSON.parse(
    readFileSync(new URL('../generated/openapi.json', import.meta.url), 'utf8'),
  ) as JsonNode;
  const resolve = (node: unknown): JsonNode => {
    let current = (node ?? {}) as JsonNode;
    while (typeof current.$ref === 'string') {
      current = current.$ref
        .slice(2)
        .split('/')
        .reduce<JsonNode>(
          (at, key) => (at[key.replaceAll('~1', '/').replaceAll('~0', '~')] ?? {}) as JsonNode,
          doc,
        );
    }
    return current;
  };
  const child = (node: unknown, ...keys: string[]) =>
    keys.reduce<JsonNode>((at, key) => resolve(at[key]), resolve(node));

  return Object.entries(child(doc, 'paths'))
    .filter(([, item]) => {
      const schema = child(
        item,
        'get',
        'responses',
        '200',
        'content',
        'application/json',
        'schema',
      );
      const properties = child(schema, 'properties');
      const required = (schema.required ?? []) as string[];
      return properties.data !== undefined && required.includes('nextCursor');
    })
    .map(([path]) => path)
    .sort();
}

/**
 * Type-level tests: `tsc --noEmit` fails if any `@ts-expect-error` below stops being an error,
 * that is, if `paginate()` starts accepting a path that is not a list or loses its item types.
 */
export function paginateTypeChecks(client: MemberRolesClient) {
  // @ts-expect-error /v1/permissions answers one unpaginated list (no nextCursor)
  void client.paginate('/v1/permissions');
  // @ts-expect-error one organization is not a list
  void client.paginate('/v1/organizations/{orgId}', { params: { path: { orgId: 'org_1' } } });
  // @ts-expect-error a path the contract does not have
  void client.paginate('/v1/organisations/{orgId}/members', { params: { path: { orgId: 'o' } } });
  // @ts-expect-error a list under an organization needs its path parameters
  void client.paginate('/v1/organizations/{orgId}/members');
  void client.paginate('/v1/organizations/{orgId}/members', {
    // @ts-expect-error filters are typed: a status is active or suspended
    params: { path: { orgId: 'org_1' }, query: { status: 'banned' } },
  });
  return async () => {
    const members = client.paginate('/v1/organizations/{orgId}/members', {
      params: { path: { orgId: 'org_1' } },
    });
    for await (const member of members) {
      const typed: Member = member;
      // @ts-expect-error items are members, which carry their role, not a permissions list
      void typed.permissions;
    }
    const events = client.paginate('/v1/organizations/{orgId}/audit-events', {
      params: { path: { orgId: 'org_1' } },
    });
    for await (const event of events) {
      const action: string = event.action;
      void action;
    }
  };
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}

let ctx: TestContext;
let org: TestOrg;
let members: TestActor[];
let teamId: string;
let endpointId = '';
beforeAll(async () => {
  ctx = await startTestService();
  org = await createOrg(ctx);
  // Three webhook endpoints; the first hears every event that follows (delivery is off in tests,
  // so its deliveries stay in its log).
  for (const n of [1, 2, 3]) {
    const { data, error } = await org.owner.client.POST(
      '/v1/organizations/{orgId}/webhook-endpoints',
      {
        params: { path: { orgId: org.orgId } },
        body: { url: `https://hooks-${n}.example/member-roles`, events: ['*'] },
      },
    );
    if (!data) throw new Error(`createWebhookEndpoint failed: ${JSON.stringify(error)}`);
    endpointId ||= data.endpoint.id;
  }
  // At least three items in every list, so that pages of one make at least three pages.
  members = [];
  for (const role of ['member', 'member', 'viewer', 'member']) {
    members.push(await addActor(ctx, org, role));
  }
  const teamIds: string[] = [];
  for (const name of ['Platform', 'Billing', 'Support']) {
    const { data, error } = await org.owner.client.POST('/v1/organizations/{orgId}/teams', {
      params: { path: { orgId: org.orgId } },
      body: { name },
    });
    if (!data) throw new Error(`createTeam failed: ${JSON.stringify(error)}`);
    teamIds.push(data.id);
  }
  teamId = teamIds[0]!;
  for (const member of members) {
    const { error } = await org.owner.client.PUT(
      '/v1/organizations/{orgId}/teams/{teamId}/members/{userId}',
      {
        params: { path: { orgId: org.orgId, teamId, userId: member.userId } },
        body: { role: 'member' },
      },
    );
    if (error) throw new Error(`setTeamMemberRole failed: ${JSON.stringify(error)}`);
  }
  await mintKey(ctx, org.orgId, org.owner.userId);
  await mintKey(ctx, org.orgId, org.owner.userId);
  const invited = await org.owner.client.POST('/v1/organizations/{orgId}/invitations/batch', {
    params: { path: { orgId: org.orgId } },
    body: { invitations: ['ann', 'bea', 'cid'].map((name) => ({ email: `${name}@example.test` })) },
  });
  if (!invited.data) throw new Error(`batchInvitations failed: ${JSON.stringify(invited.error)}`);
  // The owner owns two more organizations: three organizations, three memberships.
  await createOrg(ctx, org.owner.userId);
  await createOrg(ctx, org.owner.userId);
});
afterAll(async () => {
  await ctx.stop();
});

/** The owner's client (the platform key's for the deployment's lists), counting its requests. */
function countingClient(path?: string) {
  const counter = { requests: 0 };
  const client = createMemberRolesClient({
    baseUrl: ctx.url,
    apiKey: path !== undefined && PLATFORM_LISTS.has(path) ? PLATFORM_KEY : org.owner.key,
    retries: 0,
    fetch: (request) => {
      counter.requests += 1;
      return fetch(request);
    },
  });
  return { client, counter };
}

interface ListAnswer {
  data?: { data: unknown[]; nextCursor: string | null };
  error?: unknown;
}

function pathParams(path: ListPath) {
  const known: Record<string, string> = {
    orgId: org.orgId,
    teamId,
    userId: org.owner.userId,
    endpointId,
  };
  const names = [...path.matchAll(/\{(\w+)\}/g)].map((match) => match[1]!);
  return Object.fromEntries(names.map((name) => [name, known[name]!]));
}

describe('paginate', () => {
  test('the list operations it walks are exactly those of the contract (every GET answering { data, nextCursor })', () => {
    expect([...listPaths].sort()).toEqual(contractListPaths());
  });

  test.each(listPaths)(
    '%s: page by page, the same items in the same order as one large page',
    async (path) => {
      const { client, counter } = countingClient(path);
      // `path` is a union here, so options cannot be typed per path: call through loose types
      // (the type-level checks above cover typed calls).
      const paginate = client.paginate as unknown as (
        p: string,
        o: object,
      ) => AsyncIterable<unknown>;
      const get = client.GET as unknown as (p: string, o: object) => Promise<ListAnswer>;
      const params = { path: pathParams(path) };

      const walked = await collect(paginate(path, { params: { ...params, query: { limit: 1 } } }));
      const pagesAsked = counter.requests;
      const whole = await get(path, { params: { ...params, query: { limit: 100 } } });

      expect(whole.error).toBeUndefined();
      expect(whole.data!.nextCursor).toBeNull();
      expect(walked.length).toBeGreaterThanOrEqual(3);
      // A key's lastUsedAt moves as this very walk uses the key (written within a second): not
      // part of what the pages must agree on.
      const settled = (items: unknown[]) =>
        items.map((item) => ({ ...(item as object), lastUsedAt: undefined }));
      expect(settled(walked)).toEqual(settled(whole.data!.data));
      // Pages of one item: one request per item, and at most one more for an empty last page.
      expect(pagesAsked).toBeGreaterThanOrEqual(walked.length);
      expect(pagesAsked).toBeLessThanOrEqual(walked.length + 1);
    },
  );

  test('sends the same filters with every page', async () => {
    const walked = await collect(
      org.owner.client.paginate('/v1/organizations/{orgId}/members', {
        params: { path: { orgId: org.orgId }, query: { role: 'member', limit: 1 } },
      }),
    );
    expect(walked.map((m) => m.userId).sort()).toEqual(
      members
        .filter((_, index) => index !== 2)
        .map((m) => m.userId)
        .sort(),
    );
    expect(walked.every((m) => m.role.id === 'member')).toBe(true);
  });

  test('a cursor in the options resumes the walk after the page it came from', async () => {
    const first = await org.owner.client.GET('/v1/organizations/{orgId}/members', {
      params: { path: { orgId: org.orgId }, query: { limit: 2 } },
    });
    const rest = await collect(
      org.owner.client.paginate('/v1/organizations/{orgId}/members', {
        params: {
          path: { orgId: org.orgId },
          query: { limit: 2, cursor: first.data!.nextCursor! },
        },
      }),
    );
    const all = await collect(
      org.owner.client.paginate('/v1/organizations/{orgId}/members', {
        params: { path: { orgId: org.orgId } },
      }),
    );
    expect([...first.data!.data, ...rest]).toEqual(all);
    expect(all).toHaveLength(1 + members.length);
  });

  test('asks for no further page once the loop stops', async () => {
    const { client, counter } = countingClient();
    for await (const member of client.paginate('/v1/organizations/{orgId}/members', {
      params: { path: { orgId: org.orgId }, query: { limit: 1 } },
    })) {
      expect(member.userId).toBeTruthy();
      break;
    }
    expect(counter.requests).toBe(1);
  });

  test('a refused page throws a ProblemError carrying the typed problem', async () => {
    const other = await createOrg(ctx);
    const walk = collect(
      org.owner.client.paginate('/v1/organizations/{orgId}/members', {
        params: { path: { orgId: other.orgId } },
      }),
    );
    await expect(walk).rejects.toBeInstanceOf(ProblemError);
    const error = (await walk.catch((e: unknown) => e)) as ProblemError;
    expect(error.status).toBe(404);
    expect(error.code).toBe('NOT_FOUND');
    expect(error.problem?.requestId).toEqual(expect.any(String));
    expect(error.message).toContain('/v1/organizations/{orgId}/members answered 404 NOT_FOUND');
  });

  test('a cursor that does not move ends the walk with an error instead of looping', async () => {
    let requests = 0;
    const client = createMemberRolesClient({
      baseUrl: 'http://127.0.0.1:9',
      fetch: () => {
        requests += 1;
        return Promise.resolve(
          Response.json({ data: [{ id: 'viewer' }], nextCursor: 'stuck' }, { status: 200 }),
        );
      },
    });
    const walk = collect(
      client.paginate('/v1/organizations/{orgId}/roles', { params: { path: { orgId: 'org_1' } } }),
    );
    await expect(walk).rejects.toThrow('answered the same nextCursor twice');
    expect(requests).toBe(2);
  });
});
