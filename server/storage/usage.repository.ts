import { sql } from 'kysely';
import type { Executor } from './database.js';

/**
 * Adds each process's counts to the shared one-minute windows in one statement and returns the
 * totals (a count of 0 only reads the total, without writing). A window is named by its minute
 * since the epoch; a count for an older minute than the stored one is dropped, a newer minute
 * starts the window again.
 */
export async function addToWindows(
  ex: Executor,
  counts: readonly { bucket: string; minute: number; add: number }[],
): Promise<{ bucket: string; minute: number; count: number }[]> {
  const { rows } = await sql<{ bucket: string; minute: number; count: number }>`
    with c (bucket, window_start, add) as (
      select bucket, to_timestamp(minute * 60), add
      from unnest(${counts.map((c) => c.bucket)}::text[], ${counts.map((c) => c.minute)}::int8[],
        ${counts.map((c) => c.add)}::int4[]) as u (bucket, minute, add)
    ), added as (
      insert into rate_limit_windows as w (bucket, window_start, count)
      select bucket, window_start, add from c where add > 0
      on conflict (bucket) do update set
        count = case
          when w.window_start = excluded.window_start then w.count + excluded.count
          when w.window_start < excluded.window_start then excluded.count
          else w.count end,
        window_start = greatest(w.window_start, excluded.window_start)
      returning w.bucket, w.window_start, w.count
    )
    select bucket, (extract(epoch from window_start) / 60)::int8 as minute, count from added
    union all
    select w.bucket, (extract(epoch from w.window_start) / 60)::int8, w.count
    from rate_limit_windows w join c on c.bucket = w.bucket and c.add = 0
  `.execute(ex);
  return rows.map((row) => ({ ...row, minute: Number(row.minute), count: Number(row.count) }));
}

/** Notes when keys were last used, in one statement (a later use is never overwritten). */
export async function recordKeysUsed(
  ex: Executor,
  uses: readonly { secretHash: string; at: Date }[],
) {
  await sql`
    update api_keys k set last_used_at = u.at
    from unnest(${uses.map((u) => u.secretHash)}::text[], ${uses.map((u) => u.at.toISOString())}::timestamptz[])
      as u (secret_hash, at)
    where k.secret_hash = u.secret_hash and (k.last_used_at is null or k.last_used_at < u.at)
  `.execute(ex);
}

export async function sweepWindows(ex: Executor) {
  await sql`delete from rate_limit_windows where window_start < now() - interval '2 minutes'`.execute(
    ex,
  );
}
