import { randomBytes } from 'node:crypto';
import { request, type Agent } from 'node:http';
import { createMemberRolesClient } from '../../client/index.js';
import { TEST_PLATFORM_KEY } from './service-process.js';

export interface SeededOrg {
  orgId: string;
  ownerKey: string;
  userIds: string[];
}

/** An organization with `members` members (role `member`), made through the API. */
export async function seedOrg(url: string, members: number): Promise<SeededOrg> {
  const platform = createMemberRolesClient({ baseUrl: url, apiKey: TEST_PLATFORM_KEY, retries: 0 });
  const { data, error } = await platform.POST('/v1/organizations', {
    body: {
      name: 'Fault trial',
      slug: `fault-${randomBytes(4).toString('hex')}`,
      owner: { userId: 'owner', email: 'owner@example.test' },
    },
  });
  if (!data) throw new Error(`createOrganization failed: ${JSON.stringify(error)}`);
  const owner = createMemberRolesClient({ baseUrl: url, apiKey: data.apiKey.secret, retries: 0 });
  const userIds = Array.from({ length: members }, (_, i) => `writer-${i}`);
  for (const userId of userIds) {
    const added = await owner.POST('/v1/organizations/{orgId}/members', {
      params: { path: { orgId: data.organization.id } },
      body: { userId, email: `${userId}@example.test`, roleId: 'member' },
    });
    if (added.error) throw new Error(`addMember failed: ${JSON.stringify(added.error)}`);
  }
  return { orgId: data.organization.id, ownerKey: data.apiKey.secret, userIds };
}

export interface Answer {
  at: number;
  status: number;
  code?: string;
  retryAfter: string | null;
  body: string;
}

export interface WritersResult {
  /** Role changes each writer saw acknowledged (200 with the new role), by user id. */
  acknowledged: Map<string, number>;
  answers: Answer[];
  /** Requests that got no HTTP answer at all (the service was unreachable). */
  unreachable: { at: number; error: string }[];
  /** Writers whose last change was still in doubt 20 s after the stop. */
  unfinished: string[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * One writer per member, each flipping its member's role between `member` and `viewer` with
 * `PUT …/role` until `stopped()` says so. A change is sent again until it is acknowledged (a 503,
 * of either kind, leaves it pending); setting the role a member already has changes nothing, so
 * the audit trail must hold exactly one `member.role_changed` per acknowledged change.
 */
export async function runWriters(
  url: string,
  org: SeededOrg,
  stopped: () => boolean,
): Promise<WritersResult> {
  const acknowledged = new Map<string, number>();
  const answers: Answer[] = [];
  const unreachable: { at: number; error: string }[] = [];
  const unfinished: string[] = [];
  await Promise.all(
    org.userIds.map(async (userId) => {
      let role: 'member' | 'viewer' = 'member';
      let count = 0;
      let pending = false;
      let stoppedAt: number | undefined;
      for (;;) {
        if (stopped()) {
          stoppedAt ??= Date.now();
          // A change in doubt is finished (acknowledged) before the writer stops.
          if (!pending) break;
          if (Date.now() - stoppedAt > 20_000) {
            unfinished.push(userId);
            break;
          }
        }
        const next: 'member' | 'viewer' = role === 'member' ? 'viewer' : 'member';
        pending = true;
        let answer: Answer;
        try {
          const res = await fetch(
            `${url}/v1/organizations/${org.orgId}/members/${encodeURIComponent(userId)}/role`,
            {
              method: 'PUT',
              headers: {
                Authorization: `Bearer ${org.ownerKey}`,
                'content-type': 'application/json',
              },
              body: JSON.stringify({ roleId: next }),
            },
          );
          const body = await res.text();
          answer = {
            at: Date.now(),
            status: res.status,
            retryAfter: res.headers.get('retry-after'),
            body,
            ...(res.headers.get('content-type')?.includes('json')
              ? { code: (JSON.parse(body) as { code?: string }).code }
              : {}),
          };
        } catch (error) {
          unreachable.push({ at: Date.now(), error: String((error as Error).cause ?? error) });
          await sleep(50);
          continue;
        }
        answers.push(answer);
        if (answer.status === 200) {
          role = next;
          count += 1;
          pending = false;
        } else {
          await sleep(20);
        }
      }
      acknowledged.set(userId, count);
    }),
  );
  return { acknowledged, answers, unreachable, unfinished };
}

/** What became of a half-sent request: its answer, or the error that ended it. */
export type HalfSentOutcome =
  | { kind: 'answered'; at: number; status: number; connection: string | undefined }
  | { kind: 'failed'; at: number; error: string };

/**
 * A role change (the first member to viewer) whose body is sent only in part: once the service
 * has read its headers it is in flight, until `finish()` sends the rest. For shutdown tests: the
 * signal comes while it is on its way.
 */
export function halfSentRoleChange(url: string, org: SeededOrg, agent: Agent) {
  const body = JSON.stringify({ roleId: 'viewer' });
  let finish!: () => void;
  const outcome = new Promise<HalfSentOutcome>((resolve) => {
    const req = request(
      `${url}/v1/organizations/${org.orgId}/members/${org.userIds[0]}/role`,
      {
        agent,
        method: 'PUT',
        headers: {
          Authorization: `Bearer ${org.ownerKey}`,
          'content-type': 'application/json',
          'content-length': String(Buffer.byteLength(body)),
        },
      },
      (res) => {
        res.resume();
        res.on('end', () =>
          resolve({
            kind: 'answered',
            at: Date.now(),
            status: res.statusCode!,
            connection: res.headers.connection,
          }),
        );
      },
    );
    req.on('error', (error) => resolve({ kind: 'failed', at: Date.now(), error: String(error) }));
    req.write(body.slice(0, 5));
    finish = () => req.end(body.slice(5));
  });
  return { outcome, finish };
}
