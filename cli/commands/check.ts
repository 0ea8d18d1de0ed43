import type { Command } from 'commander';
import type { AccessEvaluation } from 'member-roles-client';
import { CliError, EXIT, unwrap, type Context } from '../context.js';

type ResourceType = AccessEvaluation['resource']['type'];
const RESOURCE_TYPES: readonly ResourceType[] = ['organization', 'team', 'member'];

/** `KEY=VALUE` options, collected. */
const collect = (value: string, previous: Record<string, string>) => {
  const at = value.indexOf('=');
  if (at <= 0) throw new CliError(`--property takes KEY=VALUE, not "${value}"`, EXIT.usage);
  return { ...previous, [value.slice(0, at)]: value.slice(at + 1) };
};

/** `member-roles check SUBJECT ACTION TYPE:ID`: one AuthZEN access evaluation. */
export function registerCheck(program: Command, context: () => Context) {
  program
    .command('check <subject> <action> <resource>')
    .description(
      'may SUBJECT (a user id) do ACTION (a permission such as members:manage, or a preview such as member.set_role) on RESOURCE (organization:ORG_ID, team:TEAM_ID or member:USER_ID)? Exit 0 when allowed, 3 when denied',
    )
    .option('--org <orgId>', 'the organization of a member resource')
    .option(
      '-p, --property <key=value>',
      'a resource property (repeatable), e.g. roleId=admin',
      collect,
      {},
    )
    .action(
      async (
        subject: string,
        action: string,
        resource: string,
        options: { org?: string; property: Record<string, string> },
      ) => {
        const ctx = context();
        // The type never holds a colon; an id may (user ids such as samlp|acme:bob).
        const colon = resource.indexOf(':');
        const type = resource.slice(0, colon) as ResourceType;
        const id = resource.slice(colon + 1);
        if (colon <= 0 || !RESOURCE_TYPES.includes(type) || !id) {
          throw new CliError(
            `RESOURCE is TYPE:ID with TYPE one of ${RESOURCE_TYPES.join(', ')}, not "${resource}"`,
            EXIT.usage,
          );
        }
        const properties = {
          ...options.property,
          ...(options.org ? { organizationId: options.org } : {}),
        };
        const question = {
          subject: { type: 'user' as const, id: subject },
          action: { name: action },
          resource: {
            type,
            id,
            ...(Object.keys(properties).length > 0 ? { properties } : {}),
          },
        } as AccessEvaluation;
        const decision = unwrap(
          'access evaluation',
          await ctx.client.POST('/access/v1/evaluation', { body: question }),
        );
        ctx.print(decision, () =>
          decision.decision
            ? 'allowed'
            : `denied: ${decision.context?.code ?? 'no reason given'}${
                decision.context?.reason_admin?.en ? ` (${decision.context.reason_admin.en})` : ''
              }`,
        );
        if (!decision.decision) process.exitCode = EXIT.denied;
      },
    );
}
