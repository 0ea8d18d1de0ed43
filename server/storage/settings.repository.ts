import type { Executor } from './database.js';

export async function getSetting(ex: Executor, key: string): Promise<string | undefined> {
  const row = await ex
    .selectFrom('service_settings')
    .select('value')
    .where('key', '=', key)
    .executeTakeFirst();
  return row?.value;
}

/** Stores the value unless one is already there; returns the value in force. */
export async function putSettingIfAbsent(ex: Executor, key: string, value: string) {
  await ex
    .insertInto('service_settings')
    .values({ key, value })
    .onConflict((oc) => oc.column('key').doNothing())
    .execute();
  return (await getSetting(ex, key)) ?? value;
}

export async function countOrganizations(ex: Executor): Promise<number> {
  const row = await ex
    .selectFrom('organizations')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}
