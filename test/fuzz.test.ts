// Spec-driven fuzzing: every operation of generated/openapi.json gets many schema-valid and
// schema-invalid requests (fast-check, fixed seed) from the owner, a plain member, the same plain
// member with an access token of a local identity provider, and the platform key: the three kinds
// of credential. The service must never answer 5xx, must answer only statuses the operation documents, with
// a body that validates against the document; problem bodies carry a code; a schema-invalid
// request never succeeds.
//
// FUZZ_SEED=<n> replays another seed, FUZZ_RUNS=<n> sets the runs per operation, actor and kind
// (valid / invalid), FUZZ_SHRINK=1 shrinks a failure to a smaller request (slower: it re-sends).
// The seed differs by database: CI runs the suite on PGlite and on PostgreSQL, and two seeds of 30
// runs each try more distinct requests than one seed of 45 tried twice, in less time.
// The service runs with `production: true` so that it does not check its own responses: a body
// that breaks the contract then reaches this test as sent, instead of as a 500.
// Setup reads answers as untyped JSON.
/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-call */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { PLATFORM_KEY, startTestService, type TestContext } from './support/context.js';
import { onPostgres } from './support/database.js';
import { AUDIENCE, ISSUER, TestIdentityProvider } from './support/identity-provider.js';
import {
  closeAgent,
  contractViolations,
  operations,
  RequestFactory,
  send,
  type FuzzRequest,
  type Operation,
} from './support/openapi-fuzz.js';

const SEED = Number(process.env.FUZZ_SEED ?? (onPostgres ? 20261123 : 20261122));
const RUNS = Number(process.env.FUZZ_RUNS ?? 30);
const SHRINK = process.env.FUZZ_SHRINK === '1';

let ctx: TestContext;
let sent = 0;
let housekeeping = 0;
const started = Date.now();
const statuses = new Map<string, number>();
/** Schema-valid requests answered 400 (FUZZ_STATS=1 lists them). */
const valid400: string[] = [];

// ---------------------------------------------------------------------------------------------
// The world: one organization with an owner, a plain member, an admin, a custom role held by a
// member, a team with members; and a second organization (its ids must stay out of reach).

interface Actor {
  name: 'owner' | 'member' | 'token' | 'platform';
  userId?: string;
  key: string;
}

const world = {
  orgId: '',
  owner: { name: 'owner', userId: '', key: '' } as Actor,
  member: { name: 'member', userId: '', key: '' } as Actor,
  token: { name: 'token', userId: '', key: '' } as Actor,
  platform: { name: 'platform', key: PLATFORM_KEY } as Actor,
  orgIds: [] as string[],
  userIds: [] as string[],
  roleIds: ['owner', 'admin', 'member', 'viewer'] as string[],
  teamIds: [] as string[],
  keyIds: [] as string[],
  /** Invitations of the organization (of every status), and tokens of pending ones. */
  invitationIds: [] as string[],
  invitationTokens: [] as string[],
  invitationEmails: [] as string[],
  endpointIds: [] as string[],
  eventIds: [] as string[],
  /** The service's permissions and a product permission the fuzzing may delete (and gets back). */
  permissionIds: ['org:read', 'members:read', 'teams:manage', 'billing:manage', 'projects:fuzz'],
  etags: ['"1"', '"2"'] as string[],
  /** `nextCursor`s of real first pages (of several lists: some will not fit the list asked). */
  cursors: ['x'] as string[],
  /** Ids from the other organization: valid, real, and none of our actors' business. */
  foreign: {
    userIds: [] as string[],
    teamIds: [] as string[],
    keyIds: [] as string[],
    endpointIds: [] as string[],
  },
};

interface Answer {
  status: number;
  body: any;
}

/** A setup request (not counted as fuzzing). */
async function api(key: string, method: string, path: string, body?: unknown): Promise<Answer> {
  housekeeping += 1;
  const res = await fetch(`${ctx.url}${path}`, {
    method,
    headers: {
      Authorization: `Bearer ${key}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

async function must(key: string, method: string, path: string, body?: unknown): Promise<any> {
  const answer = await api(key, method, path, body);
  if (answer.status >= 300)
    throw new Error(`${method} ${path} → ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body;
}

const enc = encodeURIComponent;
const orgPath = () => `/v1/organizations/${world.orgId}`;
let serial = 0;
const fresh = (prefix: string) => `${prefix}${Date.now().toString(36)}${(serial += 1)}`;

async function mint(userId: string): Promise<string> {
  const created = await must(PLATFORM_KEY, 'POST', `${orgPath()}/members/${enc(userId)}/api-keys`, {
    name: 'fuzz actor',
  });
  return created.secret as string;
}

async function addMember(userId: string, roleId: string) {
  await must(world.owner.key, 'POST', `${orgPath()}/members`, {
    userId,
    email: `${userId.replace(/[^a-z0-9]/gi, '')}@example.test`,
    roleId,
  });
}

async function seedWorld() {
  const created = await must(PLATFORM_KEY, 'POST', '/v1/organizations', {
    name: 'Fuzzed organization',
    slug: fresh('fuzz-'),
    owner: { userId: 'auth0|fuzz-owner', email: 'owner@example.test', name: 'Owner' },
  });
  world.orgId = created.organization.id;
  world.owner.userId = 'auth0|fuzz-owner';
  world.owner.key = created.apiKey.secret;
  world.member.userId = 'usr_plain-member';
  await addMember(world.member.userId, 'member');
  world.member.key = await mint(world.member.userId);
  world.token = {
    name: 'token',
    userId: world.member.userId,
    key: await idp.token(world.member.userId, { expiresIn: '2h' }),
  };
  await addMember('samlp|acme|admin@acme.test', 'admin');
  await mint('samlp|acme|admin@acme.test');
  const role = await must(world.owner.key, 'POST', `${orgPath()}/roles`, {
    name: 'Support',
    description: 'Reads members and teams.',
    permissions: ['org:read', 'members:read', 'teams:read'],
  });
  await addMember('usr_support', role.id);
  const team = await must(world.owner.key, 'POST', `${orgPath()}/teams`, {
    name: 'Platform',
    description: 'Runs things.',
  });
  await must(
    world.owner.key,
    'PUT',
    `${orgPath()}/teams/${team.id}/members/${enc(world.member.userId)}`,
    { role: 'lead' },
  );
  await must(world.owner.key, 'PUT', `${orgPath()}/teams/${team.id}/members/usr_support`, {
    role: 'member',
  });

  const other = await must(PLATFORM_KEY, 'POST', '/v1/organizations', {
    name: 'Other organization',
    slug: fresh('other-'),
    owner: { userId: 'auth0|other-owner', email: 'other@example.test' },
  });
  const otherTeam = await must(
    other.apiKey.secret,
    'POST',
    `/v1/organizations/${other.organization.id}/teams`,
    { name: 'Elsewhere' },
  );
  const otherEndpoint = await must(
    other.apiKey.secret,
    'POST',
    `/v1/organizations/${other.organization.id}/webhook-endpoints`,
    { url: 'https://elsewhere.example/hook', events: ['*'] },
  );
  world.foreign = {
    userIds: ['auth0|other-owner'],
    teamIds: [otherTeam.id],
    keyIds: [other.apiKey.id],
    endpointIds: [otherEndpoint.endpoint.id],
  };
  world.orgIds = [world.orgId, world.orgId, world.orgId, other.organization.id];
  await refresh();
}

/** The tokens of pending invitations this test made, by email. */
const tokenOf = new Map<string, string>();

/** Re-reads the real ids (and brings back a custom role and a team if the fuzzing deleted them). */
async function refresh() {
  await must(PLATFORM_KEY, 'PUT', '/v1/permissions/projects:fuzz', {
    description: 'A product permission to fuzz with.',
    includedIn: ['admin'],
  });
  // Seats set by the fuzzing would refuse the repairs' additions: unlimited again.
  await must(world.owner.key, 'PATCH', orgPath(), { maxMembers: null });
  // Pending invitations to answer, with their tokens (shown once, so kept here): the pools hold
  // only pending ones whose token is known, so a drawn token and email often belong together.
  const pending = await must(world.owner.key, 'GET', `${orgPath()}/invitations?status=pending`);
  const live = new Set((pending.data as { email: string }[]).map((i) => i.email));
  for (const address of tokenOf.keys()) if (!live.has(address)) tokenOf.delete(address);
  while (tokenOf.size < 3) {
    const created = await must(world.owner.key, 'POST', `${orgPath()}/invitations`, {
      email: `${fresh('invitee')}@example.test`,
    });
    tokenOf.set(created.email as string, created.token as string);
  }
  world.invitationEmails = [...tokenOf.keys()];
  world.invitationTokens = [...tokenOf.values()];
  const [members, roles, teams, invitations, ...pages] = await Promise.all([
    must(world.owner.key, 'GET', `${orgPath()}/members?limit=100`),
    must(world.owner.key, 'GET', `${orgPath()}/roles?limit=100`),
    must(world.owner.key, 'GET', `${orgPath()}/teams?limit=100`),
    must(world.owner.key, 'GET', `${orgPath()}/invitations?limit=100`),
    ...['members', 'roles', 'audit-events', 'teams', 'invitations', 'webhook-endpoints'].map(
      (list) => must(world.owner.key, 'GET', `${orgPath()}/${list}?limit=1`),
    ),
  ]);
  world.cursors = pages
    .map((p) => p.nextCursor as string | null)
    .filter((c): c is string => c !== null);
  if (world.cursors.length === 0) world.cursors = ['x'];
  if (!roles.data.some((r: { builtIn: boolean }) => !r.builtIn)) {
    roles.data.push(
      await must(world.owner.key, 'POST', `${orgPath()}/roles`, {
        name: fresh('Support '),
        permissions: ['org:read'],
      }),
    );
  }
  if (teams.data.length === 0) {
    const team = await must(world.owner.key, 'POST', `${orgPath()}/teams`, {
      name: fresh('Team '),
    });
    await must(
      world.owner.key,
      'PUT',
      `${orgPath()}/teams/${team.id}/members/${enc(world.member.userId!)}`,
      { role: 'member' },
    );
    teams.data.push(team);
  }
  // Webhook endpoints (delivery is off here: their deliveries stay in their logs).
  let endpoints = await must(world.owner.key, 'GET', `${orgPath()}/webhook-endpoints?limit=100`);
  if (endpoints.data.length === 0) {
    await must(world.owner.key, 'POST', `${orgPath()}/webhook-endpoints`, {
      url: 'https://hooks.example/member-roles',
      events: ['*'],
    });
    endpoints = await must(world.owner.key, 'GET', `${orgPath()}/webhook-endpoints?limit=100`);
  }
  const endpointIds = (endpoints.data as { id: string }[]).map((e) => e.id);
  const [deliveries, events] = await Promise.all([
    must(
      world.owner.key,
      'GET',
      `${orgPath()}/webhook-endpoints/${endpointIds[0]}/deliveries?limit=3`,
    ),
    must(world.owner.key, 'GET', `${orgPath()}/events?limit=3`),
  ]);
  if (deliveries.nextCursor) world.cursors.push(deliveries.nextCursor as string);
  world.endpointIds = [...endpointIds.slice(0, 10), ...world.foreign.endpointIds];
  world.eventIds = [
    ...(deliveries.data as { id: string }[]).map((d) => d.id),
    ...(events.data as { id: string }[]).map((e) => e.id),
  ];
  const ours = (members.data as { userId: string }[]).map((m) => m.userId);
  const keys = await Promise.all(
    [world.owner.userId!, world.member.userId!].map((u) =>
      must(PLATFORM_KEY, 'GET', `${orgPath()}/members/${enc(u)}/api-keys?limit=100`),
    ),
  );
  // A user who is nobody's member yet, new for every operation (acceptInvitation and addMember
  // can then succeed however many members the fuzzing made before).
  world.userIds = [
    ...ours.slice(0, 20),
    ...world.foreign.userIds,
    'auth0|nobody-here',
    fresh('usr_newcomer-'),
  ];
  world.roleIds = (roles.data as { id: string }[]).map((r) => r.id);
  world.invitationIds = (invitations.data as { id: string }[]).map((i) => i.id).slice(-20);
  world.teamIds = [...(teams.data as { id: string }[]).map((t) => t.id), ...world.foreign.teamIds];
  world.keyIds = [
    ...keys.flatMap((k) => (k.data as { id: string }[]).map((x) => x.id).slice(0, 5)),
    ...world.foreign.keyIds,
  ];
  const versions = new Set<number>([1, 2]);
  for (const list of [members.data, roles.data, teams.data])
    for (const x of list as { version: number }[]) versions.add(x.version);
  world.etags = [...versions].map((v) => `"${v}"`);
}

/**
 * Keeps the owner and the plain member usable after the fuzzing transferred ownership, removed,
 * suspended or re-roled the member, or revoked a key.
 */
async function repair() {
  const me = (key: string) => api(key, 'GET', `${orgPath()}/me`);
  let owner = await me(world.owner.key);
  if (owner.status !== 200 || owner.body.role.id !== 'owner') {
    world.owner.key = await mint(world.owner.userId!);
    owner = await me(world.owner.key);
    if (owner.body?.role?.id !== 'owner') {
      // Ownership moved on: the owner actor follows it.
      const list = await must(world.owner.key, 'GET', `${orgPath()}/members?role=owner`);
      world.owner.userId = list.data[0].userId;
      world.owner.key = await mint(world.owner.userId!);
    }
  }
  // Seats the fuzzing set would refuse the member's re-addition below.
  await must(world.owner.key, 'PATCH', orgPath(), { maxMembers: null });
  if (world.member.userId === world.owner.userId) world.member.userId = fresh('usr_member-');
  const member = await api(
    world.owner.key,
    'GET',
    `${orgPath()}/members/${enc(world.member.userId!)}`,
  );
  if (member.status === 404) {
    await addMember(world.member.userId!, 'member');
  } else if (member.body.status !== 'active' || member.body.role.id !== 'member') {
    await must(world.owner.key, 'PATCH', `${orgPath()}/members/${enc(world.member.userId!)}`, {
      status: 'active',
      roleId: 'member',
    });
  }
  const self = await me(world.member.key);
  if (
    self.status !== 200 ||
    self.body.userId !== world.member.userId ||
    self.body.role.id !== 'member'
  ) {
    world.member.key = await mint(world.member.userId!);
  }
  if (world.token.userId !== world.member.userId) {
    world.token = {
      name: 'token',
      userId: world.member.userId,
      key: await idp.token(world.member.userId!, { expiresIn: '2h' }),
    };
  }
}

const MAY_BREAK_ACTORS = new Set([
  'updateMember',
  'removeMember',
  'setMemberRole',
  'transferOwnership',
  'revokeApiKey',
  'batchMembers',
  'updateOrganization',
]);

// ---------------------------------------------------------------------------------------------
// Requests

const pool = (pick: () => string[]) =>
  fc.nat().map((i) => {
    const items = pick();
    return items[i % items.length]!;
  });
const printable = fc.string({
  unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)),
  minLength: 1,
  maxLength: 60,
});

const factory = new RequestFactory(
  {
    OrganizationId: pool(() => world.orgIds),
    UserId: pool(() => world.userIds),
    RoleId: pool(() => world.roleIds),
    TeamId: pool(() => world.teamIds),
    ApiKeyId: pool(() => world.keyIds),
    Cursor: pool(() => world.cursors),
    Permission: pool(() => world.permissionIds),
    InvitationId: pool(() => world.invitationIds),
    InvitationToken: pool(() => world.invitationTokens),
    // The addresses invited (so an acceptance can match), or new ones (so an invitation is new).
    InvitationEmail: fc.oneof(
      pool(() => world.invitationEmails),
      fc.nat({ max: 1_000_000 }).map((i) => `fuzz${i}@example.test`),
    ),
    WebhookEndpointId: pool(() => world.endpointIds),
    WebhookDeliveryId: pool(() => world.eventIds),
    AuditEventId: pool(() => world.eventIds),
  },
  {
    ifMatch: fc.oneof(
      { arbitrary: pool(() => world.etags), weight: 4 },
      { arbitrary: fc.constantFrom('*', 'W/"1"', '"1", "2"', '1'), weight: 1 },
      { arbitrary: printable, weight: 1 },
    ),
    idempotencyKey: fc.oneof(
      { arbitrary: fc.constantFrom('fuzz-key-1', 'fuzz-key-2'), weight: 1 },
      { arbitrary: fc.uuid(), weight: 2 },
      {
        arbitrary: fc.string({
          unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)),
          minLength: 1,
          maxLength: 255,
        }),
        weight: 1,
      },
    ),
    // A held event stream (`wait`) is tested in events.test.ts; here every request answers at once.
    query: { wait: fc.constant(0) },
  },
);

function describeRequest(actor: Actor, req: FuzzRequest): string {
  const headers = Object.entries(req.headers).map(
    ([k, v]) => `${k}: ${v.length > 80 ? `${v.slice(0, 80)}…(${v.length})` : v}`,
  );
  const body =
    req.body === undefined
      ? ''
      : req.body.length > 400
        ? `${req.body.slice(0, 400)}…(${req.body.length} chars)`
        : req.body;
  return [
    `as ${actor.name}${actor.userId ? ` (${actor.userId})` : ''}: ${req.method} ${req.url}`,
    ...headers,
    body ? `body: ${body}` : '',
  ]
    .filter(Boolean)
    .join('\n    ');
}

async function exercise(
  op: Operation,
  actor: Actor,
  kind: 'valid' | 'invalid',
  seed: number,
): Promise<string | undefined> {
  const arb = kind === 'valid' ? factory.valid(op) : factory.invalid(op);
  try {
    await fc.assert(
      fc.asyncProperty(arb, async (req) => {
        // One request in five sends the key as X-API-Key (deterministic, unlike Math.random).
        const auth: Record<string, string> =
          sent % 5 === 4 ? { 'X-API-Key': actor.key } : { Authorization: `Bearer ${actor.key}` };
        sent += 1;
        const res = await send(ctx.url, req, auth);
        const tally = `${op.id} ${actor.name} ${kind} ${res.status}`;
        statuses.set(tally, (statuses.get(tally) ?? 0) + 1);
        if (process.env.FUZZ_STATS === '1' && kind === 'valid' && res.status === 400) {
          valid400.push(`${describeRequest(actor, req)}\n    → ${res.text.slice(0, 400)}`);
        }
        // A deleted organization takes the world with it: make a new one.
        if (op.id === 'deleteOrganization' && res.status < 300) await seedWorld();
        else if (MAY_BREAK_ACTORS.has(op.id) && res.status < 300) await repair();
        const wrong = contractViolations(op, req, res);
        if (wrong.length > 0) {
          const shown = res.text.length > 600 ? `${res.text.slice(0, 600)}…` : res.text;
          throw new Error(
            `${wrong.join('; ')}\n    ${describeRequest(actor, req)}\n    → ${res.status} ${String(res.headers['content-type'] ?? '')} ${shown}`,
          );
        }
      }),
      { numRuns: RUNS, seed, endOnFailure: !SHRINK },
    );
    return undefined;
  } catch (error) {
    // fast-check's report (runs, seed and path to replay) and, as its cause, what the check found.
    const { message, cause } = error as Error & { cause?: Error };
    const replay = message.split('\n').slice(0, 2).join(' ');
    return `${op.id}, ${actor.name}, ${kind}: ${cause?.message ?? message}\n    (${replay})`;
  }
}

// ---------------------------------------------------------------------------------------------

const ops = operations();

let idp: TestIdentityProvider;

beforeAll(async () => {
  idp = await new TestIdentityProvider().start();
  ctx = await startTestService({
    production: true,
    jwt: { jwksUrl: idp.url, issuer: ISSUER, audience: AUDIENCE, userClaim: 'sub' },
  });
  await seedWorld();
  process.stdout.write(
    `fuzz seed: ${SEED} (FUZZ_SEED to replay), ${RUNS} runs per operation, actor and kind\n`,
  );
}, 60_000);

afterAll(async () => {
  closeAgent();
  await ctx.stop();
  await idp.stop();
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  if (process.env.FUZZ_STATS === '1') {
    process.stdout.write(`valid requests answered 400:\n${valid400.join('\n')}\n`);
    process.stdout.write(
      [...statuses]
        .map(([k, n]) => `${k}: ${n}`)
        .sort()
        .join('\n') + '\n',
    );
  }
  // Coverage, for whoever reads the log: operations that no request got through to a success.
  const succeeded = new Set(
    [...statuses.keys()].filter((k) => /\s2\d\d$/.test(k)).map((k) => k.split(' ')[0]),
  );
  const never = ops.map((op) => op.id).filter((id) => !succeeded.has(id));
  if (never.length > 0) process.stdout.write(`fuzz: never answered 2xx: ${never.join(', ')}\n`);
  process.stdout.write(
    `fuzz requests sent: ${sent} (plus ${housekeeping} setup and repair requests, ${seconds} s)\n`,
  );
});

describe('every operation keeps the contract under fuzzing', () => {
  test('the document has the operations this test walks', () => {
    expect(ops.length).toBeGreaterThanOrEqual(55);
  });

  test.each(ops.map((op, index) => [op.id, op, index] as const))(
    '%s',
    async (_id, op, index) => {
      await refresh();
      await repair();
      const failures: string[] = [];
      const actors = [world.owner, world.member, world.token, world.platform];
      for (const [a, actor] of actors.entries()) {
        for (const [k, kind] of (['valid', 'invalid'] as const).entries()) {
          const failure = await exercise(op, actor, kind, SEED + index * 10 + a * 2 + k);
          if (failure) failures.push(failure);
        }
      }
      if (failures.length > 0) throw new Error(failures.join('\n\n'));
    },
    60_000,
  );
});
