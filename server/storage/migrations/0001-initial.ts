import { sql, type Kysely } from 'kysely';

/**
 * The schema holds every invariant it can: one membership per (org, user), at most one owner and
 * one default role per organization, role and team names unique per organization
 * (case-insensitively), foreign keys everywhere, and an audit table that refuses UPDATE and DELETE.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table service_settings (
      key text primary key,
      value text not null
    );

    create table organizations (
      id text primary key,
      name text not null,
      slug text not null unique,
      created_at timestamptz not null,
      updated_at timestamptz not null,
      version integer not null default 1
    );

    create table roles (
      org_id text not null references organizations (id) on delete cascade,
      id text not null,
      name text not null,
      description text,
      permissions text[] not null,
      built_in boolean not null,
      is_default boolean not null default false,
      rank integer not null,
      created_at timestamptz not null,
      updated_at timestamptz not null,
      version integer not null default 1,
      primary key (org_id, id)
    );
    create unique index roles_name_unique on roles (org_id, lower(name));
    create unique index roles_one_default on roles (org_id) where is_default;

    create table memberships (
      org_id text not null references organizations (id) on delete cascade,
      user_id text not null,
      email text not null,
      name text,
      image_url text,
      role_id text not null,
      status text not null check (status in ('active', 'suspended')),
      joined_at timestamptz not null,
      updated_at timestamptz not null,
      version integer not null default 1,
      primary key (org_id, user_id),
      foreign key (org_id, role_id) references roles (org_id, id)
    );
    create unique index memberships_one_owner on memberships (org_id) where role_id = 'owner';
    create index memberships_by_role on memberships (org_id, role_id);

    create table teams (
      org_id text not null references organizations (id) on delete cascade,
      id text not null,
      name text not null,
      description text,
      created_at timestamptz not null,
      updated_at timestamptz not null,
      version integer not null default 1,
      primary key (org_id, id)
    );
    create unique index teams_name_unique on teams (org_id, lower(name));

    create table team_members (
      org_id text not null,
      team_id text not null,
      user_id text not null,
      role text not null check (role in ('lead', 'member')),
      added_at timestamptz not null,
      updated_at timestamptz not null,
      primary key (org_id, team_id, user_id),
      foreign key (org_id, team_id) references teams (org_id, id) on delete cascade,
      foreign key (org_id, user_id) references memberships (org_id, user_id) on delete cascade
    );
    create index team_members_by_user on team_members (org_id, user_id);

    create table api_keys (
      id text primary key,
      org_id text not null,
      user_id text not null,
      name text not null,
      prefix text not null,
      secret_hash text not null unique,
      created_at timestamptz not null,
      last_used_at timestamptz,
      foreign key (org_id, user_id) references memberships (org_id, user_id) on delete cascade
    );
    create index api_keys_by_member on api_keys (org_id, user_id, id);

    create table audit_events (
      id text primary key,
      org_id text not null references organizations (id),
      action text not null,
      actor_type text not null check (actor_type in ('member', 'platform')),
      actor_user_id text,
      actor_key_id text,
      target_user_id text,
      target_id text,
      before jsonb,
      after jsonb,
      request_id text not null,
      occurred_at timestamptz not null
    );
    create index audit_events_by_org on audit_events (org_id, id desc);

    create function audit_events_append_only() returns trigger language plpgsql as $$
    begin
      raise exception 'audit_events is append-only' using errcode = '42501';
    end
    $$;
    create trigger audit_events_no_update_or_delete
      before update or delete on audit_events
      for each statement execute function audit_events_append_only();
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    drop table audit_events;
    drop function audit_events_append_only;
    drop table api_keys;
    drop table team_members;
    drop table teams;
    drop table memberships;
    drop table roles;
    drop table organizations;
    drop table service_settings;
  `.execute(db);
}
