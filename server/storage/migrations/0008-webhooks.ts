import { sql, type Kysely } from 'kysely';

/**
 * Webhooks (Standard Webhooks) from a transactional outbox:
 * - endpoints, with their signing secret (and the previous one while it still signs);
 * - deliveries: one row per event and endpoint, inserted in the statement that writes the
 *   change's audit events (so both commit or neither), claimed by the delivery workers of every
 *   process with a lease (`locked_until`) so none is sent twice while a worker holds it;
 * - attempts: each try, with the receiver's status, time and the start of its answer;
 * - notifications when audit events commit (`member_roles_events`, with the organization), which
 *   wake the held `listEvents` requests of every process, and when deliveries are queued
 *   (`member_roles_deliveries`), which wake the delivery workers (PostgreSQL; PGlite is one
 *   process and wakes them itself);
 * - the built-in owner and admin roles of existing organizations gain `webhooks:manage` (their
 *   versions, and their members', step: the representations changed).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table webhook_endpoints (
      id text primary key,
      org_id text not null references organizations (id) on delete cascade,
      url text not null,
      description text,
      events text[] not null,
      status text not null check (status in ('enabled', 'disabled')),
      disabled_reason text,
      secret text not null,
      previous_secret text,
      previous_secret_expires_at timestamptz,
      failing_since timestamptz,
      created_at timestamptz not null,
      updated_at timestamptz not null,
      version integer not null default 1
    );
    create index webhook_endpoints_by_org on webhook_endpoints (org_id, id);

    create table webhook_deliveries (
      endpoint_id text not null references webhook_endpoints (id) on delete cascade,
      event_id text not null,
      org_id text not null,
      event_type text not null,
      payload jsonb,
      status text not null check (status in ('pending', 'succeeded', 'failed')),
      attempt_count integer not null default 0,
      retries integer not null default 0,
      next_attempt_at timestamptz,
      locked_until timestamptz,
      created_at timestamptz not null,
      primary key (endpoint_id, event_id)
    );
    create index webhook_deliveries_due on webhook_deliveries (next_attempt_at)
      where status = 'pending';

    create table webhook_attempts (
      endpoint_id text not null,
      event_id text not null,
      number integer not null,
      attempted_at timestamptz not null,
      outcome text not null,
      response_status integer,
      duration_ms integer not null,
      response_body text,
      primary key (endpoint_id, event_id, number),
      foreign key (endpoint_id, event_id) references webhook_deliveries (endpoint_id, event_id)
        on delete cascade
    );

    create or replace function audit_events_notify() returns trigger language plpgsql as $$
    begin
      perform pg_notify('member_roles_events', org_id) from (select distinct org_id from new_rows) o;
      return null;
    end
    $$;
    create trigger audit_events_notify after insert on audit_events
      referencing new table as new_rows for each statement execute function audit_events_notify();

    create or replace function webhook_deliveries_notify() returns trigger language plpgsql as $$
    begin
      if exists (select 1 from new_rows) then
        perform pg_notify('member_roles_deliveries', '');
      end if;
      return null;
    end
    $$;
    create trigger webhook_deliveries_notify after insert on webhook_deliveries
      referencing new table as new_rows for each statement
      execute function webhook_deliveries_notify();

    update roles set permissions = array_append(permissions, 'webhooks:manage'),
      version = version + 1
      where built_in and id in ('owner', 'admin') and not ('webhooks:manage' = any (permissions));
    update memberships set version = version + 1 where role_id in ('owner', 'admin');
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    update roles set permissions = array_remove(permissions, 'webhooks:manage'),
      version = version + 1
      where built_in and id in ('owner', 'admin');
    drop trigger webhook_deliveries_notify on webhook_deliveries;
    drop function webhook_deliveries_notify();
    drop trigger audit_events_notify on audit_events;
    drop function audit_events_notify();
    drop table webhook_attempts;
    drop table webhook_deliveries;
    drop table webhook_endpoints;
  `.execute(db);
}
