import { sql } from 'kysely';
import type { Executor } from './database.js';

/**
 * Counts one request in the bucket's current one-minute window (opening a new window when the
 * last one has passed), atomically, by the database's clock. Returns the count so far and the
 * seconds left in the window.
 */
export async function countRequest(
  ex: Executor,
  bucket: string,
): Promise<{ count: number; secondsLeft: number }> {
  const { rows } = await sql<{ count: number; seconds_left: number }>`
    insert into rate_limit_windows as w (bucket, window_start, count)
    values (${bucket}, now(), 1)
    on conflict (bucket) do update set
      window_start = case when w.window_start <= now() - interval '60 seconds' then now() else w.window_start end,
      count = case when w.window_start <= now() - interval '60 seconds' then 1 else w.count + 1 end
    returning w.count, extract(epoch from (w.window_start + interval '60 seconds' - now()))::float8 as seconds_left
  `.execute(ex);
  const row = rows[0]!;
  return { count: Number(row.count), secondsLeft: Number(row.seconds_left) };
}

export async function sweepWindows(ex: Executor) {
  await sql`delete from rate_limit_windows where window_start < now() - interval '2 minutes'`.execute(
    ex,
  );
}
