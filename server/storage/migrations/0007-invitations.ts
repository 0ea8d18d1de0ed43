import { sql, type Kysely } from 'kysely';

/**
 * Invitations and seats:
 * - `organizations.max_members` (null: unlimited): members plus pending invitations never exceed
 *   it, checked under the organization's lock by every change that takes a seat;
 * - invitations, whose token is stored only as a SHA-256 hash; at most one pending invitation per
 *   organization and email, case-insensitively (the partial unique index). An expired invitation
 *   is still `pending` in storage until something touches it: readers compare `expires_at` with
 *   the clock. Its role is not a foreign key: a custom role deleted meanwhile invalidates the
 *   invitation at acceptance;
 * - the teams an invitation joins, which go with a deleted team.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    alter table organizations add column max_members integer check (max_members >= 1);

    create table invitations (
      org_id text not null references organizations (id) on delete cascade,
      id text not null,
      email text not null,
      role_id text not null,
      status text not null
        check (status in ('pending', 'accepted', 'declined', 'revoked', 'expired')),
      invited_by text,
      token_hash text not null unique,
      created_at timestamptz not null,
      expires_in_days integer not null check (expires_in_days between 1 and 30),
      expires_at timestamptz not null,
      responded_at timestamptz,
      updated_at timestamptz not null,
      version integer not null default 1,
      primary key (org_id, id)
    );
    create unique index invitations_one_pending on invitations (org_id, lower(email))
      where status = 'pending';
    create index invitations_keyset on invitations (org_id, (id collate "C"));

    create table invitation_teams (
      org_id text not null,
      invitation_id text not null,
      team_id text not null,
      role text not null check (role in ('lead', 'member')),
      primary key (org_id, invitation_id, team_id),
      foreign key (org_id, invitation_id) references invitations (org_id, id) on delete cascade,
      foreign key (org_id, team_id) references teams (org_id, id) on delete cascade
    );
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    drop table invitation_teams;
    drop table invitations;
    alter table organizations drop column max_members;
  `.execute(db);
}
