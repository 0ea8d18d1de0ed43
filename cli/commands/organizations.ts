import type { Command } from 'commander';
import type { Organization } from 'member-roles-client';
import { fields, table, unwrap, type Context } from '../context.js';

const orgRows = (orgs: Organization[]) =>
  table([
    ['ID', 'SLUG', 'NAME', 'CREATED'],
    ...orgs.map((o) => [o.id, o.slug, o.name, o.createdAt]),
  ]);

/** `member-roles organizations …` (listing and creating need the platform key). */
export function registerOrganizations(program: Command, context: () => Context) {
  const orgs = program
    .command('organizations')
    .alias('orgs')
    .description('list, show and create organizations');

  orgs
    .command('list')
    .description('every organization of the deployment (platform key)')
    .option('-q, --query <text>', 'only those whose name or slug contains this text')
    .action(async (options: { query?: string }) => {
      const ctx = context();
      const all: Organization[] = [];
      for await (const org of ctx.client.paginate('/v1/organizations', {
        params: { query: { ...(options.query ? { q: options.query } : {}), limit: 100 } },
      })) {
        all.push(org);
      }
      ctx.print(all, () => orgRows(all));
    });

  orgs
    .command('get <orgId>')
    .description('one organization')
    .action(async (orgId: string) => {
      const ctx = context();
      const org = unwrap(
        `get organization ${orgId}`,
        await ctx.client.GET('/v1/organizations/{orgId}', { params: { path: { orgId } } }),
      );
      ctx.print(org, () =>
        fields([
          ['id', org.id],
          ['slug', org.slug],
          ['name', org.name],
          ['created', org.createdAt],
          ['updated', org.updatedAt],
        ]),
      );
    });

  orgs
    .command('create')
    .description("create an organization and its owner; prints the owner's first API key (once)")
    .requiredOption('--name <name>', 'its name')
    .requiredOption('--slug <slug>', 'its unique slug (a-z, 0-9, -)')
    .requiredOption('--owner <userId>', "the first owner's user id")
    .requiredOption('--owner-email <email>', "the first owner's email")
    .option('--owner-name <name>', "the first owner's name")
    .action(
      async (options: {
        name: string;
        slug: string;
        owner: string;
        ownerEmail: string;
        ownerName?: string;
      }) => {
        const ctx = context();
        const created = unwrap(
          `create organization ${options.slug}`,
          await ctx.client.POST('/v1/organizations', {
            body: {
              name: options.name,
              slug: options.slug,
              owner: {
                userId: options.owner,
                email: options.ownerEmail,
                ...(options.ownerName ? { name: options.ownerName } : {}),
              },
            },
          }),
        );
        ctx.print(
          created,
          () =>
            `${fields([
              ['id', created.organization.id],
              ['slug', created.organization.slug],
              ['owner', created.owner.userId],
              ["owner's API key", created.apiKey.secret],
            ])}\nThe key is shown once: keep it now.`,
        );
      },
    );
}
