import { sql, type Kysely } from 'kysely';

/**
 * Release 2's storage:
 * - the product's permissions (the service's own 13 are in the code and the contract), with the
 *   built-in roles that include them; roles keep their permissions materialized, so a role's
 *   permissions are read as they are, on the one-statement read path;
 * - who acted through which credential (`actor_via`: api_key, token, platform), and actors without
 *   a key (an access token, or the platform key on behalf of a member);
 * - deleting an organization deletes its audit trail: the append-only trigger lets DELETE through
 *   only inside a transaction that declared it (`member_roles.deleting_organization`);
 * - members in byte order of user id (the list's keyset order) whatever the database's collation,
 *   and a user's memberships across organizations.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table product_permissions (
      id text primary key,
      description text not null,
      included_in text[] not null default '{}',
      created_at timestamptz not null,
      updated_at timestamptz not null
    );

    alter table audit_events add column actor_via text
      check (actor_via in ('api_key', 'token', 'platform'));

    create or replace function audit_events_append_only() returns trigger language plpgsql as $$
    begin
      if tg_op = 'DELETE'
        and coalesce(current_setting('member_roles.deleting_organization', true), '') <> '' then
        return null;
      end if;
      raise exception 'audit_events is append-only' using errcode = '42501';
    end
    $$;

    create index memberships_keyset on memberships (org_id, (user_id collate "C"));
    create index memberships_by_user on memberships (user_id, org_id);
    create index organizations_by_id on organizations (id collate "C");
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    drop index organizations_by_id;
    drop index memberships_by_user;
    drop index memberships_keyset;
    create or replace function audit_events_append_only() returns trigger language plpgsql as $$
    begin
      raise exception 'audit_events is append-only' using errcode = '42501';
    end
    $$;
    alter table audit_events drop column actor_via;
    drop table product_permissions;
  `.execute(db);
}
