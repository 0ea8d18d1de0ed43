import { Option, type Command } from 'commander';
import type { components } from 'member-roles-client';
import { fields, problemError, table, unwrap, type Context } from '../context.js';

type Invitation = components['schemas']['Invitation'];
type InvitationStatus = components['schemas']['InvitationStatus'];

const STATUSES: InvitationStatus[] = ['pending', 'accepted', 'declined', 'revoked', 'expired'];

const invitationRows = (invitations: Invitation[]) =>
  table([
    ['INVITATION', 'EMAIL', 'ROLE', 'STATUS', 'EXPIRES'],
    ...invitations.map((i) => [i.id, i.email, i.role.id, i.status, i.expiresAt]),
  ]);

const invitationFields = (i: Invitation & { token?: string }) =>
  fields([
    ['invitation', i.id],
    ['email', i.email],
    ['role', `${i.role.id} (${i.role.name})`],
    ['teams', i.teams.map((t) => `${t.name} (${t.role})`).join(', ') || '-'],
    ['status', i.status],
    ['expires', i.expiresAt],
    ...(i.token
      ? ([['token', `${i.token}  (shown this once: put it in the link you send)`]] as [
          string,
          string,
        ][])
      : []),
  ]);

/** `member-roles invitations …` */
export function registerInvitations(program: Command, context: () => Context) {
  const invitations = program
    .command('invitations')
    .description("an organization's invitations (by email, with seats)");

  invitations
    .command('list <orgId>')
    .description('every invitation, page after page')
    .addOption(new Option('--status <status>', 'only invitations in this status').choices(STATUSES))
    .option('--email <email>', 'only invitations to this address')
    .action(async (orgId: string, options: { status?: InvitationStatus; email?: string }) => {
      const ctx = context();
      const all: Invitation[] = [];
      for await (const invitation of ctx.client.paginate('/v1/organizations/{orgId}/invitations', {
        params: {
          path: { orgId },
          query: {
            limit: 100,
            ...(options.status ? { status: options.status } : {}),
            ...(options.email ? { email: options.email } : {}),
          },
        },
      })) {
        all.push(invitation);
      }
      ctx.print(all, () => invitationRows(all));
    });

  invitations
    .command('create <orgId> <email>')
    .description("invite someone by email (with the organization's default role unless --role)")
    .option('--role <roleId>', 'the role they join with (not owner)')
    .option('--expires-in-days <days>', 'how long the invitation is valid, 1 to 30 (default 7)')
    .action(
      async (orgId: string, email: string, options: { role?: string; expiresInDays?: string }) => {
        const ctx = context();
        const created = unwrap(
          `invite ${email}`,
          await ctx.client.POST('/v1/organizations/{orgId}/invitations', {
            params: { path: { orgId } },
            body: {
              email,
              ...(options.role ? { roleId: options.role } : {}),
              ...(options.expiresInDays ? { expiresInDays: Number(options.expiresInDays) } : {}),
            },
          }),
        );
        ctx.print(created, () => invitationFields(created));
      },
    );

  invitations
    .command('resend <orgId> <invitationId>')
    .description('a new token and expiry (the old token stops working)')
    .action(async (orgId: string, invitationId: string) => {
      const ctx = context();
      const resent = unwrap(
        `resend ${invitationId}`,
        await ctx.client.POST('/v1/organizations/{orgId}/invitations/{invitationId}/resend', {
          params: { path: { orgId, invitationId } },
        }),
      );
      ctx.print(resent, () => invitationFields(resent));
    });

  invitations
    .command('revoke <orgId> <invitationId>')
    .description('revoke a pending invitation')
    .action(async (orgId: string, invitationId: string) => {
      const ctx = context();
      const answer = await ctx.client.DELETE(
        '/v1/organizations/{orgId}/invitations/{invitationId}',
        { params: { path: { orgId, invitationId } } },
      );
      if (answer.error) {
        throw problemError(`revoke ${invitationId}`, answer.response.status, answer.error);
      }
      ctx.print(
        { organizationId: orgId, invitationId, revoked: true },
        () => `revoked ${invitationId}`,
      );
    });
}
