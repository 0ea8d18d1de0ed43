// Bulk seeding of the service's database with SQL (insert … select … from generate_series), after
// the service migrated it and created the organizations through its API, while the service is
// stopped. Rows follow the schema of server/storage/migrations: memberships with their teams, and
// audit events with ULID ids (`evt_` + 26 Crockford base32 characters, time first, so they sort
// as the service's own do). `sql` is { query(text, params) → rows } on PGlite or PostgreSQL.

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const CHUNK = 100_000; // rows per statement: bounded memory on PGlite

/** SQL for `width` base32 digits of a bigint SQL expression (at most 12, so shifts stay < 64). */
function base32Sql(expression, width) {
  return Array.from(
    { length: width },
    (_, i) =>
      `substr('${CROCKFORD}', ((${expression} >> ${5 * (width - 1 - i)}) & 31)::int + 1, 1)`,
  ).join(' || ');
}

/** SQL for a ULID: 10 digits of a millisecond time, then 16 of a unique number (not random). */
function ulidSql(msExpression, numberExpression) {
  return `${base32Sql(msExpression, 10)} || '000000' || ${base32Sql(numberExpression, 10)}`;
}

/** The user id of the i-th seeded member: user_000001, user_000002, … */
const userIdSql = (i) => `'user_' || lpad((${i})::text, 6, '0')`;

const progress = (text) => process.stderr.write(`  ${text}\n`);

/**
 * `teams` teams and members user_000001 … up to `members` members in all (the owner, made by the
 * API, is one of them). Roles and statuses vary: every 10th an admin, every 3rd a viewer, the
 * rest members; every 50th suspended. Each seeded member belongs to one team, every 100th as lead.
 */
export async function seedMembers(sql, { orgId, members, teams }) {
  const count = members - 1;
  progress(`${count.toLocaleString('en')} members and ${teams} teams in ${orgId}`);
  await sql.query(
    `insert into teams (org_id, id, name, description, created_at, updated_at)
     select $1, 'team_' || ${ulidSql('ms', 't')}, 'Team ' || lpad(t::text, 3, '0'), null, now(), now()
     from generate_series(1, $2::int) t,
          lateral (select (extract(epoch from now()) * 1000)::bigint - 86400000 + t as ms) clock`,
    [orgId, teams],
  );
  for (let from = 1; from <= count; from += CHUNK) {
    const to = Math.min(count, from + CHUNK - 1);
    await sql.query(
      `insert into memberships (org_id, user_id, email, name, image_url, role_id, status, joined_at, updated_at)
       select $1, ${userIdSql('i')}, 'user' || i || '@bench.test', 'Bench User ' || i, null,
              case when i % 10 = 0 then 'admin' when i % 3 = 0 then 'viewer' else 'member' end,
              case when i % 50 = 0 then 'suspended' else 'active' end,
              now() - make_interval(secs => i), now() - make_interval(secs => i)
       from generate_series($2::int, $3::int) i`,
      [orgId, from, to],
    );
    await sql.query(
      `insert into team_members (org_id, team_id, user_id, role, added_at, updated_at)
       select $1, t.id, ${userIdSql('i')}, case when i % 100 = 0 then 'lead' else 'member' end, now(), now()
       from generate_series($2::int, $3::int) i
       join (select id, row_number() over (order by id) - 1 as n from teams where org_id = $1) t
         on t.n = i % $4`,
      [orgId, from, to, teams],
    );
  }
}

/**
 * `events` audit events in the organization, one a second ending an hour before now (older than
 * the events its creation through the API wrote), each a role change of one of its members.
 */
export async function seedAuditEvents(sql, { orgId, actorUserId, actorKeyId, events, members }) {
  progress(`${events.toLocaleString('en')} audit events in ${orgId}`);
  for (let from = 1; from <= events; from += CHUNK) {
    const to = Math.min(events, from + CHUNK - 1);
    await sql.query(
      `insert into audit_events (id, org_id, action, actor_type, actor_user_id, actor_key_id,
                                 target_user_id, target_id, before, after, request_id, occurred_at)
       select 'evt_' || ${ulidSql('ms', 'i')}, $1, 'member.role_changed', 'member', $2, $3,
              ${userIdSql('i % ($6::int - 1) + 1')}, null,
              '{"roleId":"member"}'::jsonb, '{"roleId":"viewer"}'::jsonb,
              gen_random_uuid()::text, to_timestamp(ms / 1000.0)
       from generate_series($4::int, $5::int) i,
            lateral (select (extract(epoch from now()) * 1000)::bigint
                            - ($7::bigint + 3600) * 1000 + i::bigint * 1000 as ms) clock`,
      [orgId, actorUserId, actorKeyId, from, to, members, events],
    );
    if (to % 500_000 === 0 || to === events) progress(`  ${to.toLocaleString('en')} events`);
  }
}

/** What autovacuum would have done by the time such tables served traffic. */
export async function vacuumAnalyze(sql) {
  progress('vacuum analyze');
  for (const table of ['memberships', 'teams', 'team_members', 'audit_events', 'api_keys']) {
    await sql.query(`vacuum analyze ${table}`);
  }
}

/** Keyset cursors as server/domain/cursor.ts makes them: base64url JSON {l, o, k}. */
export function cursor(list, orgId, key) {
  return Buffer.from(JSON.stringify({ l: list, o: orgId, k: key })).toString('base64url');
}

/**
 * The cursor that opens page `page` of listMembers (`limit` per page, user ids in bytewise
 * order) without walking there, and the user id that page must start with.
 */
export async function deepMembersPage(sql, orgId, page, limit) {
  const rows = await sql.query(
    `select user_id from memberships where org_id = $1
     order by user_id collate "C" offset $2 limit 2`,
    [orgId, (page - 1) * limit - 1],
  );
  if (rows.length < 2) throw new Error(`the organization has fewer than ${page} pages`);
  return { cursor: cursor('members', orgId, [rows[0].user_id]), firstUserId: rows[1].user_id };
}

/** The cursor after the `skip` newest audit events, and the id the page must start with. */
export async function deepAuditPage(sql, orgId, skip) {
  const rows = await sql.query(
    `select id from audit_events where org_id = $1 order by id desc offset $2 limit 2`,
    [orgId, skip - 1],
  );
  if (rows.length < 2) throw new Error(`the organization has fewer than ${skip + 1} audit events`);
  return { cursor: cursor('audit', orgId, [rows[0].id]), firstId: rows[1].id };
}

/** Active members holding the role `member`: each connection of setMemberRole changes its own. */
export async function roleChangeTargets(sql, orgId, count) {
  const rows = await sql.query(
    `select user_id from memberships
     where org_id = $1 and role_id = 'member' and status = 'active' and user_id like 'user\\_%'
     order by user_id limit $2`,
    [orgId, count],
  );
  return rows.map((row) => row.user_id);
}

/**
 * The batch organization's members, all active with the role `member`, in blocks of `size`: each
 * connection of the batch case changes its own block, so no two batches race for one member.
 */
export async function batchBlocks(sql, orgId, blocks, size) {
  await sql.query(
    `update memberships set role_id = 'member', status = 'active'
     where org_id = $1 and role_id <> 'owner'`,
    [orgId],
  );
  const rows = await sql.query(
    `select user_id from memberships where org_id = $1 and role_id = 'member'
     order by user_id limit $2`,
    [orgId, blocks * size],
  );
  const ids = rows.map((row) => row.user_id);
  return Array.from({ length: blocks }, (_, i) => ids.slice(i * size, (i + 1) * size));
}
