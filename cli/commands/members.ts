import { Option, type Command } from 'commander';
import type { Member } from 'member-roles-client';
import { fields, problemError, table, unwrap, type Context } from '../context.js';

const memberRows = (members: Member[]) =>
  table([
    ['USER', 'EMAIL', 'NAME', 'ROLE', 'STATUS', 'JOINED'],
    ...members.map((m) => [
      m.userId,
      m.user.email,
      m.user.name ?? '',
      m.role.id,
      m.status,
      m.joinedAt,
    ]),
  ]);

const memberFields = (m: Member) =>
  fields([
    ['user', m.userId],
    ['email', m.user.email],
    ['name', m.user.name],
    ['role', `${m.role.id} (${m.role.name})`],
    ['status', m.status],
    ['teams', m.teams.map((t) => `${t.name} (${t.role})`).join(', ') || '-'],
    ['joined', m.joinedAt],
    ['version', m.version],
  ]);

/** `If-Match` from `--if-version N`: the change applies only to that version of the member. */
const ifMatch = (version?: string) =>
  version === undefined ? {} : { header: { 'If-Match': `"${version}"` } };

/** `member-roles members …` */
export function registerMembers(program: Command, context: () => Context) {
  const members = program.command('members').description("an organization's members");

  members
    .command('list <orgId>')
    .description('every member, page after page')
    .option('--role <roleId>', 'only members with this role')
    .addOption(
      new Option('--status <status>', 'only members in this status').choices([
        'active',
        'suspended',
      ]),
    )
    .option('--team <teamId>', 'only members of this team')
    .option('-q, --query <text>', 'only those whose id, email or name contains this text')
    .action(
      async (
        orgId: string,
        options: { role?: string; status?: 'active' | 'suspended'; team?: string; query?: string },
      ) => {
        const ctx = context();
        const all: Member[] = [];
        for await (const member of ctx.client.paginate('/v1/organizations/{orgId}/members', {
          params: {
            path: { orgId },
            query: {
              limit: 100,
              ...(options.role ? { role: options.role } : {}),
              ...(options.status ? { status: options.status } : {}),
              ...(options.team ? { teamId: options.team } : {}),
              ...(options.query ? { q: options.query } : {}),
            },
          },
        })) {
          all.push(member);
        }
        ctx.print(all, () => memberRows(all));
      },
    );

  members
    .command('get <orgId> <userId>')
    .description('one member')
    .action(async (orgId: string, userId: string) => {
      const ctx = context();
      const member = unwrap(
        `get member ${userId}`,
        await ctx.client.GET('/v1/organizations/{orgId}/members/{userId}', {
          params: { path: { orgId, userId } },
        }),
      );
      ctx.print(member, () => memberFields(member));
    });

  members
    .command('add <orgId> <userId>')
    .description("add a member (with the organization's default role unless --role)")
    .requiredOption('--email <email>', 'their email')
    .option('--name <name>', 'their name')
    .option('--image-url <url>', 'their picture')
    .option('--role <roleId>', 'their role (not owner: add, then transfer ownership)')
    .action(
      async (
        orgId: string,
        userId: string,
        options: { email: string; name?: string; imageUrl?: string; role?: string },
      ) => {
        const ctx = context();
        const member = unwrap(
          `add member ${userId}`,
          await ctx.client.POST('/v1/organizations/{orgId}/members', {
            params: { path: { orgId } },
            body: {
              userId,
              email: options.email,
              ...(options.name ? { name: options.name } : {}),
              ...(options.imageUrl ? { imageUrl: options.imageUrl } : {}),
              ...(options.role ? { roleId: options.role } : {}),
            },
          }),
        );
        ctx.print(member, () => memberFields(member));
      },
    );

  members
    .command('set-role <orgId> <userId> <roleId>')
    .description("change a member's role (owner: transfers ownership)")
    .option('--if-version <version>', 'only if the member is still at this version')
    .action(
      async (orgId: string, userId: string, roleId: string, options: { ifVersion?: string }) => {
        const ctx = context();
        const member = unwrap(
          `set the role of ${userId}`,
          await ctx.client.PUT('/v1/organizations/{orgId}/members/{userId}/role', {
            params: { path: { orgId, userId }, ...ifMatch(options.ifVersion) },
            body: { roleId },
          }),
        );
        ctx.print(member, () => memberFields(member));
      },
    );

  for (const [name, status, description] of [
    ['suspend', 'suspended', 'suspend a member (their API keys are refused until reactivated)'],
    ['reactivate', 'active', 'reactivate a suspended member'],
  ] as const) {
    members
      .command(`${name} <orgId> <userId>`)
      .description(description)
      .option('--if-version <version>', 'only if the member is still at this version')
      .action(async (orgId: string, userId: string, options: { ifVersion?: string }) => {
        const ctx = context();
        const member = unwrap(
          `${name} ${userId}`,
          await ctx.client.PATCH('/v1/organizations/{orgId}/members/{userId}', {
            params: { path: { orgId, userId }, ...ifMatch(options.ifVersion) },
            body: { status },
          }),
        );
        ctx.print(member, () => memberFields(member));
      });
  }

  members
    .command('remove <orgId> <userId>')
    .description('remove a member (their API keys are revoked, their team memberships end)')
    .option('--if-version <version>', 'only if the member is still at this version')
    .action(async (orgId: string, userId: string, options: { ifVersion?: string }) => {
      const ctx = context();
      const answer = await ctx.client.DELETE('/v1/organizations/{orgId}/members/{userId}', {
        params: { path: { orgId, userId }, ...ifMatch(options.ifVersion) },
      });
      if (answer.error)
        throw problemError(`remove ${userId}`, answer.response.status, answer.error);
      ctx.print({ organizationId: orgId, userId, removed: true }, () => `removed ${userId}`);
    });
}
