#!/usr/bin/env node
// `npm run bench`: how fast the service answers, as a ratio to "Express + one indexed select on
// the same database", measured in the same run on the same machine (machines here are shared and
// noisy: absolute figures mean little, ratios in one run mean more).
//
//   npm run bench                 PGlite (or the PostgreSQL of DATABASE_URL=postgres://… when set)
//   npm run bench -- --both       PGlite, then PostgreSQL (DATABASE_URL, or scripts/postgres.sh)
//   npm run bench:postgres        PostgreSQL only
//   Env: BENCH_SECONDS (about 5 per case), BENCH_WARMUP_SECONDS (3, at least 1: the JIT and caches settle),
//   BENCH_CONNECTIONS (50), BENCH_ONLY (a regular expression: only the cases whose title
//   matches, and the baseline)
//
// Method, per database (one table each):
// - The service runs unchanged from dist/ in its own process, as in production: NODE_ENV=
//   production (no response validation), logs at info (read and thrown away), rate limiting on
//   with a limit of 1,000,000 a minute that the bench never reaches, so its accounting is paid.
// - The baseline (scripts/bench/baseline-server.mjs) runs in a process of its own too: Express,
//   one select by primary key of a member-like row in its own table, pool of 10 (on PGlite its
//   own PGlite instance). Besides its own row, it is measured again (for PAIRED_SECONDS) just
//   before and just after each case of the service, and the case's ratio divides by their mean:
//   load that other work puts on a shared machine changes over a run, and weighs alike on both
//   sides of a pair. Bare Express with a static body is printed for context.
// - Data: two organizations created through the API, then seeded in bulk with SQL while the
//   service is stopped (scripts/bench/seed.mjs): a small one (1,000 members, 20 teams) for the
//   everyday cases, and one of 100,000 members and 1,000,000 audit events for the scale cases,
//   whose deep pages are reached with cursors built as the service builds them, not by walking.
// - Load: autocannon, 50 connections. Before the first case, each read of the service runs for a
//   second, unmeasured (V8 compiles the service in its first seconds of work). Per case: a warm-up
//   run of BENCH_WARMUP_SECONDS, then a measured run of as many requests as the warm-up's rate
//   makes in BENCH_SECONDS, which ends when all are answered (so every request counted was carried
//   out); req/s is answers over its duration, p50/p99 its latencies. Any answer that is not 2xx
//   fails the bench (exit status 1).
// - Statements per request: on PostgreSQL, pg_stat_statements of the run's scratch database
//   (top-level statements, BEGIN and COMMIT included), divided by the requests answered; on PGlite,
//   counted inside the process at PGlite's protocol entry (scripts/bench/pglite-statements.mjs).
// - CPU per request: the serving process's user + system time during the measured run (Linux
//   /proc), over the requests answered. The load on a shared machine moves req/s a lot and this
//   little, so it tells what a change to the request path saves. BENCH_SERVICE_NODE_ARGS gives
//   the service's node extra arguments (e.g. `--cpu-prof --cpu-prof-dir=DIR` for a profile).
// - A target "within 1.2× of" another case (a deep page against the first) is judged on the two
//   cases measured again in alternation, ALTERNATED.rounds rounds of ALTERNATED.seconds each,
//   by the median of the rounds' ratios: measured minutes apart, one case moves by more than that.
// - The targets of issue 7 are printed beside the figures; missing one does not fail the bench.
//
// Caveats: the load generator, the service and PostgreSQL share the machine's cores, so every
// case (baseline included) pays for the generator; PGlite runs inside the serving process, which
// also executes its queries; the rate-limit window is per key and minute, so a service far faster
// than today's could reach 1,000,000 in a minute and be refused (it would show as a failure).
import { randomBytes } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { ROLE_CHANGE_WITH_WEBHOOKS, buildCases } from './bench/cases.mjs';
import { pgliteDatabase, postgresAdminUrl, postgresDatabase } from './bench/databases.mjs';
import { alternate, measure, warm } from './bench/load.mjs';
import { startIdentityProvider } from './bench/identity.mjs';
import { startBaseline, startService } from './bench/processes.mjs';
import { printTable } from './bench/report.mjs';
import { startWebhookSink } from './bench/webhook-sink.mjs';
import {
  batchBlocks,
  deepAuditPage,
  deepMembersPage,
  roleChangeTargets,
  seedAuditEvents,
  seedMembers,
  vacuumAnalyze,
} from './bench/seed.mjs';

const settings = {
  seconds: Number(process.env.BENCH_SECONDS ?? 5),
  warmup: Number(process.env.BENCH_WARMUP_SECONDS ?? 3),
  connections: Number(process.env.BENCH_CONNECTIONS ?? 50),
  only: process.env.BENCH_ONLY ? new RegExp(process.env.BENCH_ONLY, 'i') : undefined,
};
const SMALL = { members: 1_000, teams: 20 };
const SCALE = { members: 100_000, teams: 100, events: 1_000_000, page: 2_000, auditSkip: 990_000 };
const BASELINE_ORG = 'org_01JBENCHBASE00000000000000';
/** batchMembers: each connection sets the role of its own block of this many members at once. */
const BATCH_SIZE = 100;
const PAIRED_SECONDS = 2;
/** Each read of the service runs this long before any case is measured (see `warmService`). */
const WARM_SECONDS = 1;
/** A target "within a factor of another case" is judged on this many alternated runs of both. */
const ALTERNATED = { rounds: 6, seconds: 1.5 };
const notCounted = { start: async () => {}, read: async () => null };

const log = (text) => process.stderr.write(`${text}\n`);

/** Runs a phase of the bench and says how long it took. */
async function timed(label, phase) {
  log(`${label}…`);
  const started = Date.now();
  const result = await phase();
  log(`${label}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return result;
}

/** Which databases this invocation measures, in order. */
function chosenDatabases(args) {
  if (args.includes('--both')) return ['pglite', 'postgres'];
  if (args.includes('--postgres')) return ['postgres'];
  if (args.includes('--pglite')) return ['pglite'];
  return /^postgres(ql)?:\/\//.test(process.env.DATABASE_URL ?? '') ? ['postgres'] : ['pglite'];
}

/** A JSON request to a started service; anything but 2xx is an error. */
function apiOf(service) {
  return async (method, path, key, body) => {
    const res = await fetch(`${service.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${key}`,
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 500)}`);
    return text ? JSON.parse(text) : undefined;
  };
}

/** Starts the service once to migrate the database and create the two organizations. */
async function createOrganizations(database, platformKey) {
  const service = await startService({ databaseUrl: database.serviceUrl, platformKey });
  try {
    const api = apiOf(service);
    const create = async (slug) => {
      const ownerUserId = `owner_${slug}`;
      const created = await api('POST', '/v1/organizations', platformKey, {
        name: `Bench ${slug}`,
        slug,
        owner: { userId: ownerUserId, email: `${ownerUserId}@bench.test`, name: 'Bench Owner' },
      });
      return {
        orgId: created.organization.id,
        ownerUserId,
        key: created.apiKey.secret,
        keyId: created.apiKey.id,
      };
    };
    return {
      small: await create('bench-small'),
      scale: await create('bench-scale'),
      batch: await create('bench-batch'),
    };
  } finally {
    await service.stop();
  }
}

/** Bulk seeding while the service is stopped; returns what the cases need from the data. */
async function seed(database, { small, scale, batch }) {
  const sql = await database.openSql();
  try {
    await seedMembers(sql, { orgId: small.orgId, ...SMALL });
    await seedMembers(sql, { orgId: scale.orgId, ...SCALE });
    await seedAuditEvents(sql, {
      orgId: scale.orgId,
      actorUserId: scale.ownerUserId,
      actorKeyId: scale.keyId,
      events: SCALE.events,
      members: SCALE.members,
    });
    await seedMembers(sql, {
      orgId: batch.orgId,
      members: settings.connections * BATCH_SIZE + 1,
      teams: 1,
    });
    const blocks = await batchBlocks(sql, batch.orgId, settings.connections, BATCH_SIZE);
    await vacuumAnalyze(sql);
    return {
      small,
      scale,
      batch: { ...batch, blocks },
      roleTargets: await roleChangeTargets(sql, small.orgId, settings.connections),
      deepMembers: await deepMembersPage(sql, scale.orgId, SCALE.page, 50),
      deepAudit: {
        skip: SCALE.auditSkip,
        ...(await deepAuditPage(sql, scale.orgId, SCALE.auditSkip)),
      },
    };
  } finally {
    await sql.close();
  }
}

/** One request of each case before any load: a wrong setup must not be measured. */
async function probe(cases, servers) {
  for (const kase of cases) {
    if (!kase.probe) continue;
    const { method = 'GET', path, headers, body, expect } = kase.probe;
    const res = await fetch(`${servers[kase.server].url}${path}`, { method, headers, body });
    const text = await res.text();
    if (!res.ok) throw new Error(`probe of "${kase.title}": ${res.status} ${text.slice(0, 500)}`);
    const problem = expect?.(JSON.parse(text));
    if (problem) throw new Error(`probe of "${kase.title}": ${problem}`);
  }
}

/**
 * One row of the table. A case of the service is measured between two short runs of the
 * baseline, its pair: the case's ratio is over their mean req/s (what other work on the machine
 * does to both sides drifts during a case; the runs before and after bracket it).
 */
async function measureCase(kase, cases, servers, database) {
  log(`  ${kase.title}…`);
  const pairedRun = () =>
    measure(
      cases.find((candidate) => candidate.isBaseline),
      {
        ...settings,
        server: servers.baseline,
        counter: notCounted,
        seconds: Math.min(PAIRED_SECONDS, settings.seconds),
      },
    );
  const paired = kase.server === 'service' ? [await pairedRun()] : [];
  const server = servers[kase.server];
  const measured = await measure(kase, {
    ...settings,
    // A case may ask for fewer connections (a batch: each request is 100 changes).
    connections: kase.connections ?? settings.connections,
    server,
    counter: database.statementCounter(server),
  });
  if (kase.server === 'service') paired.push(await pairedRun());
  const pairFailure = paired.find((run) => run.failure)?.failure;
  return {
    ...measured,
    targets: kase.targets,
    perRequest: kase.perRequest,
    compareWith: kase.compareWith,
    pairedBaselineRps:
      paired.length > 0 ? paired.reduce((sum, run) => sum + run.rps, 0) / paired.length : undefined,
    failure: measured.failure ?? (pairFailure ? `its baseline: ${pairFailure}` : null),
  };
}

/** Cases of the baseline's own process are compared with the baseline's own row. */
function withRatios(rows, cases) {
  const baselineRps = rows[cases.findIndex((kase) => kase.isBaseline)]?.rps;
  return rows.map((row) => {
    const over = row.pairedBaselineRps ?? baselineRps;
    return { ...row, ratio: over && !row.failure ? row.rps / over : null };
  });
}

/** The webhook queue's depth as the service's metrics say. */
async function queueDepth(service, platformKey) {
  const res = await fetch(`${service.url}/metrics`, {
    headers: { authorization: `Bearer ${platformKey}` },
  });
  const line = (await res.text())
    .split('\n')
    .find((l) => l.startsWith('member_roles_webhook_queue_depth '));
  return line ? Number(line.split(' ')[1]) : 0;
}

/**
 * Deliveries during the role changes with three endpoints: how many reached the local receiver,
 * over what time, and whether the queue was empty once the case was measured (waiting up to
 * 120 s for it).
 */
async function deliveryThroughput(sink, service, platformKey, loadEndedAt) {
  const backlog = await queueDepth(service, platformKey);
  const until = Date.now() + 120_000;
  while ((await queueDepth(service, platformKey)) > 0 && Date.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const left = await queueDepth(service, platformKey);
  const arrivals = await sink.arrivals();
  if (arrivals.length === 0) return { delivered: 0 };
  const first = arrivals[0];
  const last = arrivals.at(-1);
  const after = arrivals.filter((at) => at > loadEndedAt);
  return {
    delivered: arrivals.length,
    seconds: (last - first) / 1000,
    rate: arrivals.length / Math.max(0.001, (last - first) / 1000),
    backlog,
    drainSeconds: after.length ? (after.at(-1) - loadEndedAt) / 1000 : 0,
    drainRate: after.length
      ? after.length / Math.max(0.001, (after.at(-1) - loadEndedAt) / 1000)
      : null,
    left,
  };
}

/**
 * Delivery throughput with a backlog: while the receiver refuses (503, Retry-After: 3), 300 role
 * changes queue 900 deliveries (three endpoints) whose retries fall due together; then the
 * receiver accepts, and the time from the first delivery to the last gives deliveries a second.
 */
async function deliveryBacklog(sink, service, fixtures) {
  const api = apiOf(service);
  const { small, roleTargets } = fixtures;
  const memberOf = (userId) =>
    `/v1/organizations/${small.orgId}/members/${encodeURIComponent(userId)}`;
  await sink.refuse(true);
  const roles = new Map();
  for (const userId of roleTargets) {
    roles.set(userId, (await api('GET', memberOf(userId), small.key)).role.id);
  }
  let changes = 0;
  for (let round = 0; round < Math.ceil(300 / roleTargets.length); round += 1) {
    await Promise.all(
      roleTargets.map(async (userId) => {
        const roleId = roles.get(userId) === 'member' ? 'viewer' : 'member';
        await api('PUT', `${memberOf(userId)}/role`, small.key, { roleId });
        roles.set(userId, roleId);
        changes += 1;
      }),
    );
  }
  // Every first attempt has been refused once the queue holds only what waits for its retry.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const before = (await sink.arrivals()).length;
  await sink.refuse(false);
  const until = Date.now() + 120_000;
  while ((await queueDepth(service, fixtures.platformKey)) > 0 && Date.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const arrived = (await sink.arrivals()).slice(before);
  const seconds = arrived.length > 1 ? (arrived.at(-1) - arrived[0]) / 1000 : 0;
  return {
    changes,
    delivered: arrived.length,
    seconds,
    rate: arrived.length / Math.max(seconds, 0.001),
  };
}

/** Starts the baseline and the service, measures every case, and stops both whatever happens. */
async function measureAll(database, fixtures) {
  const { countPgliteStatements } = database;
  const servers = {};
  const sink = await startWebhookSink();
  try {
    servers.baseline = await startBaseline({
      databaseUrl: database.baselineUrl,
      orgId: BASELINE_ORG,
      members: SMALL.members,
      countPgliteStatements,
    });
    servers.identity = await startIdentityProvider();
    servers.service = await startService({
      databaseUrl: database.serviceUrl,
      platformKey: fixtures.platformKey,
      countPgliteStatements,
      env: { ...servers.identity.env, MEMBER_ROLES_WEBHOOK_ALLOW_PRIVATE: '1' },
    });
    const cases = buildCases({
      api: apiOf(servers.service),
      fixtures: {
        ...fixtures,
        token: await servers.identity.token(fixtures.small.ownerUserId),
        webhookSinkUrl: sink.url,
      },
      baselineOrg: BASELINE_ORG,
    }).filter((kase) => kase.isBaseline || !settings.only || settings.only.test(kase.title));
    await probe(cases, servers);
    await warmService(cases, servers.service);
    const rows = [];
    let deliveries;
    for (const kase of cases) {
      rows.push(await measureCase(kase, cases, servers, database));
      if (kase.title === ROLE_CHANGE_WITH_WEBHOOKS) {
        deliveries = await deliveryThroughput(
          sink,
          servers.service,
          fixtures.platformKey,
          Date.now(),
        );
        deliveries.backlog2 = await deliveryBacklog(sink, servers.service, fixtures);
      }
    }
    await alternateWithin(rows, cases, servers.service);
    return { rows: withRatios(rows, cases), deliveries };
  } finally {
    await Promise.all(Object.values(servers).map((server) => server.stop()));
    await sink.stop();
  }
}

/**
 * Before the first case is measured, every read of the service runs for WARM_SECONDS: in its first
 * seconds the service runs slower while V8 compiles it (a page of members cost 2.9 ms of CPU in
 * the first second after start, 1.0 in the fourth, 0.6 from the sixth on), and without this
 * whichever case came first paid for it (getMember read 0.48 of the baseline when measured first
 * in one run, 0.68 measured alone a minute later).
 */
async function warmService(cases, service) {
  const reads = cases.filter((kase) => kase.server === 'service' && kase.reads);
  if (reads.length === 0) return;
  await timed(`warming the service up (its reads, ${WARM_SECONDS} s each)`, async () => {
    for (const kase of reads) {
      await warm(kase, {
        server: service,
        seconds: WARM_SECONDS,
        connections: settings.connections,
      });
    }
  });
}

/**
 * Each case with a target "within a factor of" another case is measured again in alternation
 * with that case (see `alternate`); the target is judged on the median of the rounds' ratios.
 */
async function alternateWithin(rows, cases, service) {
  for (const [index, kase] of cases.entries()) {
    const target = kase.targets?.find((candidate) => candidate.kind === 'within');
    const other = target && cases.find((candidate) => candidate.title === target.of);
    const otherRow = other && rows.find((row) => row.title === other.title);
    if (!other || rows[index].failure || !otherRow || otherRow.failure) continue;
    log(`  ${kase.title} against ${other.title}, alternated…`);
    try {
      rows[index].alternated = await alternate(other, kase, {
        ...ALTERNATED,
        server: service,
        connections: settings.connections,
      });
    } catch (error) {
      rows[index].failure = error.message;
    }
  }
}

function printDeliveries(deliveries) {
  if (!deliveries) return;
  const n = (x) => Math.round(x).toLocaleString('en');
  if (deliveries.delivered) {
    console.log(
      `\n  webhook deliveries during "${ROLE_CHANGE_WITH_WEBHOOKS}" (warm-up and measured run): ` +
        `${n(deliveries.delivered)} arrived at the local receiver over ${deliveries.seconds.toFixed(1)} s; ` +
        (deliveries.left
          ? `${n(deliveries.left)} were still pending 120 s after the case`
          : 'the queue was empty once the case had been measured'),
    );
  } else {
    console.log('\n  webhook deliveries: none arrived at the local receiver');
  }
  const b = deliveries.backlog2;
  if (b) {
    console.log(
      `  delivery throughput from a backlog: ${n(b.delivered)} deliveries due at once ` +
        `(${n(b.changes)} role changes × 3 endpoints) delivered in ${b.seconds.toFixed(1)} s: ` +
        `${n(b.rate)}/s`,
    );
  }
}

async function benchOn(kind) {
  const database =
    kind === 'postgres' ? await postgresDatabase(await postgresAdminUrl()) : await pgliteDatabase();
  log(`\n== ${database.title}`);
  try {
    const platformKey = `mrk_bench_${randomBytes(24).toString('base64url')}`;
    const organizations = await timed(
      'migrating and creating the organizations through the API',
      () => createOrganizations(database, platformKey),
    );
    const seeded = await timed('seeding in bulk with SQL', () => seed(database, organizations));
    const fixtures = { ...seeded, platformKey };
    const loadBefore = loadavg()[0];
    const { rows, deliveries } = await timed(
      `measuring (${settings.warmup} s warm-up + ${settings.seconds} s per case)`,
      () => measureAll(database, fixtures),
    );
    printTable({
      heading: `member-roles bench: ${database.title}`,
      notes: [
        `about ${settings.seconds} s per case after ${settings.warmup} s of warm-up, ` +
          `${settings.connections} connections (a ${Math.min(PAIRED_SECONDS, settings.seconds)} s ` +
          'baseline run before and after each case of the service); ' +
          `Node ${process.version}, ${cpus().length} CPUs, load generator on the same machine`,
        `machine load (1-minute average) ${loadBefore.toFixed(1)} at the start, ` +
          `${loadavg()[0].toFixed(1)} at the end: other work on it weighs on every figure`,
        `stmts/req: ${database.countingMethod}`,
        'cpu ms/req: CPU time (user + system) of the serving process per request, from /proc ' +
          '(on PGlite the database runs inside it); steadier than req/s on a shared machine',
        `data: ${SMALL.members.toLocaleString('en')} members (everyday cases); ` +
          `${SCALE.members.toLocaleString('en')} members and ` +
          `${SCALE.events.toLocaleString('en')} audit events (scale cases)`,
      ],
      rows,
    });
    printDeliveries(deliveries);
    return rows.some((row) => row.failure);
  } finally {
    await database.cleanup();
  }
}

let failed = false;
for (const kind of chosenDatabases(process.argv.slice(2))) {
  if (await benchOn(kind)) failed = true;
}
process.exitCode = failed ? 1 : 0;
