// A preview and its write cannot disagree: over generated organizations (built-in and custom roles,
// suspended members, team leads) and generated sequences of writes by generated actors, each
// write is first previewed (evaluateAccess, the platform key asking about the actor), then
// performed (the platform key on the actor's behalf), and the preview's decision and code must be
// the write's outcome. Every write that succeeds changes the organization the next one meets, so
// the previews are checked in many states, not just the first.
//
// PREVIEW_SEED=<n> replays another seed, PREVIEW_RUNS=<n> sets the number of organizations.
/* eslint-disable @typescript-eslint/no-explicit-any */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { onPostgres, PLATFORM_KEY, startTestService, type TestContext } from './support/context.js';

const SEED = Number(process.env.PREVIEW_SEED ?? 20261130);
const RUNS = Number(process.env.PREVIEW_RUNS ?? 30);

let ctx: TestContext;
beforeAll(async () => {
  ctx = await startTestService();
  // A product permission, held by admins: custom roles and the ceiling cover it like the rest.
  await call('PUT', '/v1/permissions/docs:edit', {
    body: { description: 'Edit documents.', includedIn: ['admin'] },
  });
});
afterAll(async () => {
  await ctx.stop();
});

const PERMISSIONS = [
  'org:read',
  'org:manage',
  'members:read',
  'members:invite',
  'members:manage',
  'members:remove',
  'roles:read',
  'roles:manage',
  'teams:read',
  'teams:manage',
  'audit:read',
  'api_keys:manage',
  'billing:manage',
  'docs:edit',
];
const ACTIONS = [
  'member.add',
  'member.set_role',
  'member.suspend',
  'member.reactivate',
  'member.remove',
  'ownership.transfer',
  'team_member.set_role',
] as const;
type Action = (typeof ACTIONS)[number];
const MISSING_ROLE = 'role_01JD0000000000000000000000';

interface Answer {
  status: number;
  body: any;
}

async function call(
  method: string,
  path: string,
  options: { body?: unknown; onBehalfOf?: string } = {},
): Promise<Answer> {
  const res = await fetch(`${ctx.url}${path}`, {
    method,
    headers: {
      Authorization: `Bearer ${PLATFORM_KEY}`,
      ...(options.onBehalfOf ? { 'On-Behalf-Of': options.onBehalfOf } : {}),
      ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

async function must(
  method: string,
  path: string,
  options: Parameters<typeof call>[2] = {},
): Promise<any> {
  const answer = await call(method, path, options);
  if (answer.status >= 300) {
    throw new Error(`${method} ${path} → ${answer.status} ${JSON.stringify(answer.body)}`);
  }
  return answer.body;
}

// ---------------------------------------------------------------------------------------------
// Worlds and commands

const one = (weightTrue: number) => fc.integer({ min: 1, max: 100 }).map((n) => n <= weightTrue);

const worldArb = fc.record({
  customRoles: fc.array(fc.subarray(PERMISSIONS, { minLength: 1 }), { maxLength: 2 }),
  members: fc.array(fc.record({ role: fc.nat(30), suspended: one(25) }), {
    minLength: 2,
    maxLength: 5,
  }),
  teams: fc.array(fc.array(fc.record({ member: fc.nat(30), lead: one(40) }), { maxLength: 3 }), {
    minLength: 1,
    maxLength: 2,
  }),
  commands: fc.array(
    fc.record({
      action: fc.constantFrom(...ACTIONS),
      // The owner acts often: the deepest rules (ownership, the ceiling) are theirs to meet.
      actor: fc.oneof(
        { arbitrary: fc.constant(0), weight: 1 },
        { arbitrary: fc.nat(30), weight: 3 },
      ),
      target: fc.nat(30),
      role: fc.nat(30),
      teamRole: fc.constantFrom('lead' as const, 'member' as const),
      team: fc.nat(5),
      newcomer: one(60),
    }),
    { minLength: 4, maxLength: 8 },
  ),
});
type World = typeof worldArb extends fc.Arbitrary<infer T> ? T : never;
type Command = World['commands'][number];

interface Built {
  orgId: string;
  /** The owner first, then the members, then someone who belongs to nothing. */
  people: string[];
  roles: string[];
  teams: string[];
}

let serial = 0;

/** Builds the organization as its owner would (the platform key on the owner's behalf). */
async function build(world: World): Promise<Built> {
  serial += 1;
  const owner = `auth0|owner-${serial}`;
  const created = await must('POST', '/v1/organizations', {
    body: {
      name: 'Generated',
      slug: `generated-${serial}-${Date.now().toString(36)}`,
      owner: { userId: owner, email: 'owner@example.test' },
    },
  });
  const orgId: string = created.organization.id;
  const org = `/v1/organizations/${orgId}`;
  const asOwner = { onBehalfOf: owner };
  const custom: string[] = [];
  for (const [i, permissions] of world.customRoles.entries()) {
    const role = await must('POST', `${org}/roles`, {
      ...asOwner,
      body: { name: `Custom ${i}`, permissions },
    });
    custom.push(role.id);
  }
  const assignable = ['admin', 'member', 'viewer', ...custom];
  const members = world.members.map((_, i) => `usr_m${i}`);
  for (const [i, spec] of world.members.entries()) {
    await must('POST', `${org}/members`, {
      ...asOwner,
      body: {
        userId: members[i],
        email: `m${i}@example.test`,
        roleId: assignable[spec.role % assignable.length],
      },
    });
  }
  const teams: string[] = [];
  for (const [t, spec] of world.teams.entries()) {
    const team = await must('POST', `${org}/teams`, { ...asOwner, body: { name: `Team ${t}` } });
    teams.push(team.id);
    for (const { member, lead } of spec) {
      await must('PUT', `${org}/teams/${team.id}/members/${members[member % members.length]}`, {
        ...asOwner,
        body: { role: lead ? 'lead' : 'member' },
      });
    }
  }
  for (const [i, spec] of world.members.entries()) {
    if (spec.suspended) {
      await must('PATCH', `${org}/members/${members[i]}`, {
        ...asOwner,
        body: { status: 'suspended' },
      });
    }
  }
  return {
    orgId,
    people: [owner, ...members, 'usr_stranger'],
    roles: [...assignable, 'owner', MISSING_ROLE],
    teams,
  };
}

/** The question a command asks, and the write that performs it. */
function commandOf(built: Built, c: Command, step: number) {
  const pick = <T>(list: T[], n: number) => list[n % list.length]!;
  const actor = pick(built.people, c.actor);
  const target = pick(built.people, c.target);
  const roleId = pick(built.roles, c.role);
  const teamId = pick(built.teams, c.team);
  const org = `/v1/organizations/${built.orgId}`;
  const onMember = (properties: Record<string, string> = {}) => ({
    type: 'member',
    id: target,
    properties: { organizationId: built.orgId, ...properties },
  });
  const enc = encodeURIComponent;
  const writes: Record<Action, { resource: unknown; write: [string, string, unknown?] }> = {
    'member.add': (() => {
      const userId = c.newcomer ? `usr_new${step}` : target;
      return {
        resource: { type: 'organization', id: built.orgId, properties: { userId, roleId } },
        write: ['POST', `${org}/members`, { userId, email: `new${step}@example.test`, roleId }],
      };
    })(),
    'member.set_role': {
      resource: onMember({ roleId }),
      write: ['PUT', `${org}/members/${enc(target)}/role`, { roleId }],
    },
    'member.suspend': {
      resource: onMember(),
      write: ['PATCH', `${org}/members/${enc(target)}`, { status: 'suspended' }],
    },
    'member.reactivate': {
      resource: onMember(),
      write: ['PATCH', `${org}/members/${enc(target)}`, { status: 'active' }],
    },
    'member.remove': {
      resource: onMember(),
      write: ['DELETE', `${org}/members/${enc(target)}`],
    },
    'ownership.transfer': {
      resource: onMember(),
      write: ['POST', `${org}/ownership-transfer`, { userId: target }],
    },
    'team_member.set_role': {
      resource: { type: 'team', id: teamId, properties: { userId: target, role: c.teamRole } },
      write: ['PUT', `${org}/teams/${teamId}/members/${enc(target)}`, { role: c.teamRole }],
    },
  };
  return { actor, ...writes[c.action] };
}

/** Each action's outcomes seen, so the test shows it met both answers. */
const seen = new Map<Action, Set<string>>();

describe(`a preview answers exactly what its write does (${onPostgres ? 'PostgreSQL' : 'PGlite'})`, () => {
  test(`for every preview action, over ${RUNS} generated organizations`, async () => {
    await fc.assert(
      fc.asyncProperty(worldArb, async (world) => {
        const built = await build(world);
        for (const [step, command] of world.commands.entries()) {
          const { actor, resource, write } = commandOf(built, command, step);
          const question = {
            subject: { type: 'user', id: actor },
            action: { name: command.action },
            resource,
          };
          const preview = await call('POST', '/access/v1/evaluation', { body: question });
          expect(preview.status).toBe(200);
          const [method, path, body] = write;
          const done = await call(method, path, {
            onBehalfOf: actor,
            ...(body !== undefined ? { body } : {}),
          });
          const succeeded = done.status < 300;
          const code = succeeded
            ? undefined
            : done.body.code === 'NOT_FOUND'
              ? 'NOT_A_MEMBER'
              : done.body.code;
          const context = `${command.action} by ${actor}: ${JSON.stringify(question.resource)} → write ${done.status} ${JSON.stringify(done.body?.code ?? '')}, preview ${JSON.stringify(preview.body)}`;
          expect({
            decision: preview.body.decision,
            code: preview.body.context?.code,
            context,
          }).toEqual({ decision: succeeded, code, context });
          // The write's own words, unless it was refused at the door (contract) or as a 404.
          if (!succeeded && !['VALIDATION_FAILED', 'NOT_FOUND'].includes(done.body.code)) {
            expect(preview.body.context.reason_admin.en).toBe(done.body.detail);
          }
          const outcomes = seen.get(command.action) ?? new Set<string>();
          outcomes.add(code ?? 'permitted');
          seen.set(command.action, outcomes);
        }
      }),
      { numRuns: RUNS, seed: SEED },
    );
    // Not vacuous: every action was both permitted and refused at least once.
    for (const action of ACTIONS) {
      const outcomes = [...(seen.get(action) ?? [])];
      expect({ action, permitted: outcomes.includes('permitted') }).toEqual({
        action,
        permitted: true,
      });
      expect({ action, refused: outcomes.some((o) => o !== 'permitted') }).toEqual({
        action,
        refused: true,
      });
    }
  }, 300_000);
});
