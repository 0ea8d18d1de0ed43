// What the bench measures, in the order it measures it, and the targets of issue 7 ("Done when")
// each case is held to. A case names the process that serves it (the baseline or the service),
// builds its autocannon options anew for every run, and may name a probe: one request sent
// before any load, whose answer must be 2xx and look right, so a case never measures a mistake.

const P99_READ_MS = 50;

const bearer = (key) => ({ authorization: `Bearer ${key}` });
/** `Cache-Control: no-cache`: a page of members rendered anew, not one kept from its revision. */
const RENDER_ANEW = { 'cache-control': 'no-cache' };
const get = (path, key, headers = {}) => ({
  method: 'GET',
  path,
  headers: { ...(key ? bearer(key) : {}), ...headers },
});
const memberPath = (org, userId) =>
  `/v1/organizations/${org}/members/${encodeURIComponent(userId)}`;

/** A case that sends one GET over and over. */
function getCase({ title, server, path, key, headers, targets = [], expect }) {
  const request = get(path, key, headers);
  return {
    title,
    server,
    targets,
    reads: true,
    options: (watch) => ({ requests: [watch(request)] }),
    probe: { path, headers: request.headers, expect },
  };
}

/** A case that sends one POST with a JSON body over and over (the access questions). */
function postCase({ title, server, path, key, body, targets = [], expect }) {
  const headers = { ...bearer(key), 'content-type': 'application/json' };
  const text = JSON.stringify(body);
  return {
    title,
    server,
    targets,
    reads: true,
    options: (watch) => ({ requests: [watch({ method: 'POST', path, headers, body: text })] }),
    probe: { method: 'POST', path, headers, body: text, expect },
  };
}

/** One access question and a batch of 50, about a member of the small organization. */
function accessCases(orgId, key) {
  const subject = { type: 'user', id: 'user_000042' };
  const resource = { type: 'organization', id: orgId };
  const permissions = ['org:read', 'org:manage', 'members:read', 'members:invite', 'teams:read'];
  return [
    postCase({
      title: 'evaluateAccess (one decision)',
      server: 'service',
      path: '/access/v1/evaluation',
      key,
      body: { subject, action: { name: 'org:read' }, resource },
      targets: [ratioAtLeast(0.6), p99Below(P99_READ_MS)],
      expect: (body) => (body?.decision === true ? undefined : 'not a permitting decision'),
    }),
    postCase({
      title: 'evaluateAccessBatch (50 questions)',
      server: 'service',
      path: '/access/v1/evaluations',
      key,
      body: {
        subject,
        resource,
        evaluations: Array.from({ length: 50 }, (_, i) => ({
          action: { name: permissions[i % permissions.length] },
        })),
      },
      targets: [p99Below(P99_READ_MS)],
      expect: (body) =>
        body?.evaluations?.length === 50 ? undefined : 'not 50 decisions, in order',
    }),
  ];
}

const ratioAtLeast = (minimum) => ({ kind: 'ratio', minimum, label: `≥ ${minimum}× baseline` });
const p99Below = (ms) => ({ kind: 'p99', ms, label: `p99 < ${ms} ms` });
const notSlowerThan = (share, of, what) => ({
  kind: 'share',
  share,
  of,
  label: `≥ ${share}× ${what}`,
});
const within = (factor, of, what) => ({
  kind: 'within',
  factor,
  of,
  label: `within ${factor}× of ${what}`,
});

const pageOf = (count) => (body) => {
  if (!Array.isArray(body?.data) || body.data.length !== count) {
    return `expected a page of ${count}, got ${JSON.stringify(body).slice(0, 200)}`;
  }
  return undefined;
};
const startsWith = (field, value, count) => (body) =>
  pageOf(count)(body) ??
  (body.data[0][field] === value
    ? undefined
    : `expected the page to start at ${value}, not ${body.data[0][field]}`);

const ROLE_CHANGE = 'setMemberRole (member ⇄ viewer)';
export const ROLE_CHANGE_WITH_WEBHOOKS = 'setMemberRole, 3 webhook endpoints subscribed';

/**
 * setMemberRole: each connection changes the role of a member of its own between `member` and
 * `viewer`, starting from the role the member has now, so every request is a real change and no
 * two requests race for one member (they do contend for the organization, as real writes would).
 */
function setMemberRoleCase({ api, org, key, targets, endpoints, title, caseTargets }) {
  const put = (userId, roleId, watch) =>
    watch({
      method: 'PUT',
      path: `${memberPath(org, userId)}/role`,
      headers: { ...bearer(key), 'content-type': 'application/json' },
      body: JSON.stringify({ roleId }),
    });
  let subscribed = false;
  return {
    title: title ?? ROLE_CHANGE,
    server: 'service',
    targets: caseTargets ?? [ratioAtLeast(0.2)],
    async options(watch) {
      // The endpoints are made before the first run of the case that wants them (after the case
      // without any has been measured).
      if (endpoints && !subscribed) {
        for (const url of endpoints.urls) {
          await api('POST', `/v1/organizations/${org}/webhook-endpoints`, key, {
            url,
            events: ['member.role_changed'],
          });
        }
        subscribed = true;
      }
      const roles = await Promise.all(
        targets.map(async (userId) => (await api('GET', memberPath(org, userId), key)).role.id),
      );
      let next = 0;
      return {
        setupClient(client) {
          const i = next++ % targets.length;
          const [first, second] =
            roles[i] === 'member' ? ['viewer', 'member'] : ['member', 'viewer'];
          client.setRequests([put(targets[i], first, watch), put(targets[i], second, watch)]);
        },
      };
    },
  };
}

/**
 * batchMembers: each connection sets the role of its own block of 100 members in one request,
 * between `member` and `viewer` (every item a real change), to compare with 100 setMemberRole
 * requests: the report prints items per second and statements per item beside setMemberRole's.
 * Ten connections: writes to one organization run one at a time (its lock), so fifty batches of
 * 100 queued behind each other only measure waiting (on PGlite, in the serving process, long
 * enough for a queued request's body to miss REQUEST_TIMEOUT_MS).
 */
function batchMembersCase({ api, org, key, blocks }) {
  const path = `/v1/organizations/${org}/members/batch`;
  const headers = { ...bearer(key), 'content-type': 'application/json' };
  const body = (block, roleId) =>
    JSON.stringify({ operations: block.map((userId) => ({ op: 'set_role', userId, roleId })) });
  const size = blocks[0].length;
  return {
    title: `batchMembers (${size} set_role, member ⇄ viewer)`,
    server: 'service',
    targets: [],
    perRequest: size,
    compareWith: 'setMemberRole (member ⇄ viewer)',
    connections: 10,
    async options(watch) {
      const roles = await Promise.all(
        blocks.map(async (block) => (await api('GET', memberPath(org, block[0]), key)).role.id),
      );
      let next = 0;
      return {
        setupClient(client) {
          const i = next++ % blocks.length;
          const [first, second] =
            roles[i] === 'member' ? ['viewer', 'member'] : ['member', 'viewer'];
          client.setRequests([
            watch({ method: 'POST', path, headers, body: body(blocks[i], first) }),
            watch({ method: 'POST', path, headers, body: body(blocks[i], second) }),
          ]);
        },
      };
    },
    // One batch before any load (the first block to viewer): every item must apply.
    probe: {
      method: 'POST',
      path,
      headers,
      body: body(blocks[0], 'viewer'),
      expect: (answer) =>
        answer?.results?.length === size && answer.results.every((r) => r.status === 200)
          ? undefined
          : `not ${size} applied items: ${JSON.stringify(answer).slice(0, 300)}`,
    },
  };
}

/** The baseline: a member-like row by primary key, from Express and one select. */
function baselineCase(org) {
  return {
    ...getCase({
      title: 'Express + one indexed select (BASELINE)',
      server: 'baseline',
      path: memberPath(org, 'user_000042'),
      expect: (body) => (body?.userId === 'user_000042' ? undefined : 'not the member asked for'),
    }),
    isBaseline: true,
  };
}

/**
 * The cases of one run. `fixtures` come from seeding: the small organization (everyday cases),
 * the scale organization (100,000 members, 1,000,000 audit events) and the deep cursors.
 */
export function buildCases({ api, fixtures, baselineOrg }) {
  const { small, scale, batch, roleTargets, deepMembers, deepAudit, token } = fixtures;
  const smallOrg = `/v1/organizations/${small.orgId}`;
  const scaleOrg = `/v1/organizations/${scale.orgId}`;
  return [
    getCase({
      title: 'bare Express, static body (context)',
      server: 'baseline',
      path: '/static',
    }),
    baselineCase(baselineOrg),
    getCase({
      title: 'getMember',
      server: 'service',
      path: memberPath(small.orgId, 'user_000042'),
      key: small.key,
      targets: [ratioAtLeast(0.6), p99Below(P99_READ_MS)],
      expect: (body) => (body?.userId === 'user_000042' ? undefined : 'not the member asked for'),
    }),
    getCase({
      title: 'getMember with an access token (JWT)',
      server: 'service',
      path: memberPath(small.orgId, 'user_000042'),
      key: token,
      targets: [notSlowerThan(0.9, 'getMember', 'getMember with a key'), p99Below(P99_READ_MS)],
      expect: (body) => (body?.userId === 'user_000042' ? undefined : 'not the member asked for'),
    }),
    getCase({
      title: 'getCurrentMember',
      server: 'service',
      path: `${smallOrg}/me`,
      key: small.key,
      targets: [p99Below(P99_READ_MS)],
      expect: (body) => (body?.userId === small.ownerUserId ? undefined : 'not the caller'),
    }),
    getCase({
      title: 'listMembers, 50 per page',
      server: 'service',
      path: `${smallOrg}/members?limit=50`,
      key: small.key,
      targets: [ratioAtLeast(0.3), p99Below(P99_READ_MS)],
      expect: pageOf(50),
    }),
    // The same page rendered by the database on every request, as after every change.
    getCase({
      title: 'listMembers, 50 per page, rendered anew',
      server: 'service',
      path: `${smallOrg}/members?limit=50`,
      key: small.key,
      headers: RENDER_ANEW,
      targets: [p99Below(P99_READ_MS)],
      expect: pageOf(50),
    }),
    ...accessCases(small.orgId, small.key),
    setMemberRoleCase({ api, org: small.orgId, key: small.key, targets: roleTargets }),
    // The same with three endpoints subscribed to the change (the outbox: three more rows in the
    // change's last statement), delivered meanwhile by the service's worker to a local receiver.
    setMemberRoleCase({
      api,
      org: small.orgId,
      key: small.key,
      targets: roleTargets,
      endpoints: { urls: [1, 2, 3].map((n) => `${fixtures.webhookSinkUrl}?endpoint=${n}`) },
      title: ROLE_CHANGE_WITH_WEBHOOKS,
      caseTargets: [notSlowerThan(0.5, ROLE_CHANGE, 'setMemberRole without endpoints')],
    }),
    batchMembersCase({ api, org: batch.orgId, key: batch.key, blocks: batch.blocks }),
    getCase({
      title: 'listMembers, 100k members, page 1',
      server: 'service',
      path: `${scaleOrg}/members?limit=50`,
      key: scale.key,
      headers: RENDER_ANEW,
      targets: [p99Below(P99_READ_MS)],
      expect: pageOf(50),
    }),
    getCase({
      title: 'listMembers, 100k members, page 2,000',
      server: 'service',
      path: `${scaleOrg}/members?limit=50&cursor=${deepMembers.cursor}`,
      key: scale.key,
      headers: RENDER_ANEW,
      targets: [p99Below(P99_READ_MS), within(1.2, 'listMembers, 100k members, page 1', 'page 1')],
      expect: startsWith('userId', deepMembers.firstUserId, 50),
    }),
    getCase({
      title: 'listAuditEvents, 1M events, first page',
      server: 'service',
      path: `${scaleOrg}/audit-events?limit=50`,
      key: scale.key,
      targets: [p99Below(P99_READ_MS)],
      expect: pageOf(50),
    }),
    getCase({
      title: `listAuditEvents, 1M events, after ${deepAudit.skip.toLocaleString('en')}`,
      server: 'service',
      path: `${scaleOrg}/audit-events?limit=50&cursor=${deepAudit.cursor}`,
      key: scale.key,
      targets: [
        p99Below(P99_READ_MS),
        within(1.2, 'listAuditEvents, 1M events, first page', 'the first page (flat)'),
      ],
      expect: startsWith('id', deepAudit.firstId, 50),
    }),
  ];
}

/** Whether a measured row meets one target: true, false, or null when it cannot be judged. */
export function judge(target, row, rows) {
  if (row.failure) return null;
  if (target.kind === 'ratio') return row.ratio === null ? null : row.ratio >= target.minimum;
  if (target.kind === 'p99') return row.p99 < target.ms;
  const other = rows.find((candidate) => candidate.title === target.of);
  if (!other || other.failure || !row.rps || !other.rps) return null;
  // Two cases measured at different moments are compared by their ratios to the baseline run
  // just before each (the machine's load moves between them), not by their raw req/s.
  if (target.kind === 'share') {
    return row.ratio === null || other.ratio === null
      ? null
      : row.ratio >= target.share * other.ratio;
  }
  // Within a factor either way: a deep page much faster than the first is not flat either. Read
  // from the two measured in alternation when they were (see `alternate` in load.mjs).
  const ratio = row.alternated ? row.alternated.median : row.rps / other.rps;
  return Math.max(ratio, 1 / ratio) <= target.factor;
}
