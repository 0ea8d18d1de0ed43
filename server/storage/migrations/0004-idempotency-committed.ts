import { sql, type Kysely } from 'kysely';

/**
 * A claimed key is marked `committed` inside the transaction of the change it guards, so a retry
 * can always tell "nothing happened" (in progress, or abandoned) from "it happened" (committed or
 * done), even when the process died before the answer was stored.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    alter table idempotency_keys drop constraint idempotency_keys_state_check;
    alter table idempotency_keys add constraint idempotency_keys_state_check
      check (state in ('in_progress', 'committed', 'done'));
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    delete from idempotency_keys where state = 'committed';
    alter table idempotency_keys drop constraint idempotency_keys_state_check;
    alter table idempotency_keys add constraint idempotency_keys_state_check
      check (state in ('in_progress', 'done'));
  `.execute(db);
}
