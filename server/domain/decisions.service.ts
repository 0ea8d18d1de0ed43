import { createHash, randomUUID } from 'node:crypto';
import { canonical } from './canonical.js';
import { preparedRead, type Caller } from '../storage/access.repository.js';
import {
  readDecisionFacts,
  resourcesHeld,
  subjectsHolding,
  type QuestionFacts,
  type QuestionRow,
} from '../storage/decisions.repository.js';
import { memberFact } from '../storage/members.repository.js';
import { AppError, invalid, notFound, type ErrorCode } from '../errors.js';
import { callerOf, keyHolder, readInOrganization, requirePermission } from './access.js';
import type { DomainDeps, RequestContext } from './context.js';
import { decodeCursor, encodeCursor, keyString, type CursorPlace } from './cursor.js';
import { addMember, changeMember, removeMember, transferOwnership } from './members.service.js';
import type {
  AccessActionSearch,
  AccessActionSearchResult,
  AccessDecision,
  AccessEvaluation,
  AccessEvaluations,
  AccessEvaluationsResult,
  AccessPreviewAction,
  AccessResource,
  AccessResourceSearch,
  AccessResourceSearchResult,
  AccessSubjectSearch,
  AccessSubjectSearchResult,
  EffectivePermissions,
} from './model.js';
import { setTeamMemberRole } from './teams.service.js';

type ResourceType = AccessResource['type'];
type Semantic = 'execute_all' | 'deny_on_first_deny' | 'permit_on_first_permit';

/** Rule 10: a team's lead holds `teams:manage` for that team, whatever their role. */
export const LEAD_PERMISSION = 'teams:manage';

/** One question, its defaults applied: may `subject` do `action` on `resource`? */
interface Question {
  subject: string;
  action: string;
  resource: AccessResource;
  /** Where the resource was given in the request (for a 400 about it). */
  at: string;
}

const PERMIT: AccessDecision = { decision: true };

const deny = (code: ErrorCode, reason: string): AccessDecision => ({
  decision: false,
  context: { code, reason_admin: { en: reason } },
});

/**
 * Rule 7 for questions: a resource of an organization the subject (or the caller) is not a
 * member of reads exactly like one that does not exist. One answer for both, word for word.
 */
const notAMember = () =>
  deny(
    'NOT_A_MEMBER',
    'The resource does not exist, or the subject (or the caller) is not a member of its organization.',
  );

// ---------------------------------------------------------------------------------------------
// Previews: each runs the very use case of its write, as the subject, and rolls it back.

interface Preview {
  /** The resource the write acts on. */
  resource: ResourceType;
  /** The resource properties the write needs. */
  needs: ('organizationId' | 'roleId' | 'userId' | 'role')[];
  run(
    deps: DomainDeps,
    as: RequestContext,
    orgId: string,
    resource: AccessResource,
  ): Promise<unknown>;
}

/** The email a previewed new member is added with (no rule reads it). */
const PREVIEW_EMAIL = 'preview@example.invalid';

const PREVIEWS: Record<AccessPreviewAction, Preview> = {
  'member.add': {
    resource: 'organization',
    needs: [],
    run: (deps, as, orgId, { properties: p }) =>
      addMember(deps, as, orgId, {
        // Without a user, the question is about someone who is not a member yet.
        userId: p?.userId ?? `preview-${randomUUID()}`,
        email: PREVIEW_EMAIL,
        ...(p?.roleId !== undefined ? { roleId: p.roleId } : {}),
      }),
  },
  'member.set_role': {
    resource: 'member',
    needs: ['organizationId', 'roleId'],
    run: (deps, as, orgId, { id, properties: p }) =>
      changeMember(deps, as, orgId, id, { roleId: p!.roleId! }),
  },
  'member.suspend': {
    resource: 'member',
    needs: ['organizationId'],
    run: (deps, as, orgId, { id }) => changeMember(deps, as, orgId, id, { status: 'suspended' }),
  },
  'member.reactivate': {
    resource: 'member',
    needs: ['organizationId'],
    run: (deps, as, orgId, { id }) => changeMember(deps, as, orgId, id, { status: 'active' }),
  },
  'member.remove': {
    resource: 'member',
    needs: ['organizationId'],
    run: (deps, as, orgId, { id }) => removeMember(deps, as, orgId, id),
  },
  'ownership.transfer': {
    resource: 'member',
    needs: ['organizationId'],
    run: (deps, as, orgId, { id }) => transferOwnership(deps, as, orgId, id),
  },
  'team_member.set_role': {
    resource: 'team',
    needs: ['userId', 'role'],
    run: (deps, as, orgId, { id, properties: p }) =>
      setTeamMemberRole(deps, as, orgId, id, p!.userId!, p!.role!),
  },
};

const previewOf = (action: string): Preview | undefined =>
  Object.hasOwn(PREVIEWS, action) ? PREVIEWS[action as AccessPreviewAction] : undefined;

/** The previews that need nothing but the resource (what an action search can try). */
const BARE_PREVIEWS = (Object.keys(PREVIEWS) as AccessPreviewAction[]).filter((action) =>
  PREVIEWS[action].needs.every((need) => need === 'organizationId'),
);

/**
 * Runs the write of a preview as the subject, in the unit of work's preview mode (every rule and
 * write, then a rollback). Its refusal is the decision: the same code and reason; a 404 of the
 * write (an organization, member or team the subject cannot see, or that does not exist) is
 * `NOT_A_MEMBER`, like every question about nothing.
 */
async function preview(
  deps: DomainDeps,
  ctx: RequestContext,
  question: Question,
  orgId: string,
): Promise<AccessDecision> {
  const as: RequestContext = {
    credential: { kind: 'user', userId: question.subject, via: 'token' },
    requestId: ctx.requestId,
    preview: true,
  };
  try {
    await previewOf(question.action)!.run(deps, as, orgId, question.resource);
    return PERMIT;
  } catch (error) {
    if (!(error instanceof AppError) || error.status >= 500) throw error;
    if (error.code === 'NOT_FOUND') return notAMember();
    return deny(error.code, error.message);
  }
}

// ---------------------------------------------------------------------------------------------
// Questions

/** A malformed question is the request's fault: 400, with where it is. */
function checkQuestion(q: Question): void {
  const { resource, action, at } = q;
  const properties = resource.properties ?? {};
  const required = (name: string, why: string) => {
    if (properties[name] === undefined) {
      throw invalid('body', `${at}/properties/${name}`, why);
    }
  };
  const action_ = previewOf(action);
  if (action_) {
    if (resource.type !== action_.resource) {
      throw invalid(
        'body',
        `${at}/type`,
        `${action} previews a change to a ${action_.resource}: the resource must be one.`,
      );
    }
    for (const need of action_.needs) {
      required(need, `${action} needs resource.properties.${need}: its write does.`);
    }
  } else if (resource.type === 'member') {
    required('organizationId', 'A member resource needs properties.organizationId.');
  }
}

function rowOf(q: Question): QuestionRow {
  return {
    subject: q.subject,
    action: q.action,
    type: q.resource.type,
    id: q.resource.id,
    organizationId: q.resource.properties?.organizationId,
  };
}

/** Who asks, as far as the rules of asking care. */
type Asker =
  | { kind: 'platform' }
  | { kind: 'key'; userId: string; reads: boolean }
  | { kind: 'user'; userId: string };

/** The caller of a question: a member's key must exist and its member be active (else 401/403). */
function askerOf(caller: Caller, record: Parameters<typeof keyHolder>[0]): Asker {
  if (caller.kind === 'platform') return { kind: 'platform' };
  if (caller.kind === 'user') return { kind: 'user', userId: caller.userId };
  const holder = keyHolder(record, caller);
  return { kind: 'key', userId: holder.userId, reads: holder.permissions.has('members:read') };
}

const mayNotAsk = () =>
  deny(
    'INSUFFICIENT_PERMISSION',
    'Asking about another member needs members:read, which your role does not hold.',
  );

/**
 * Whether a question is about a member other than the caller, as its subject or as its resource
 * (whether that member exists is what `members:read` allows one to learn).
 */
const aboutAnother = (q: Question, userId: string) =>
  q.subject !== userId || (q.resource.type === 'member' && q.resource.id !== userId);

/**
 * Who may ask: the platform key, about anyone; a member (by key, token or on-behalf-of), in an
 * organization they belong to (a key: its own), about themself always, about other members
 * (as the subject or the resource) with `members:read`. Undefined when the question may be
 * answered.
 */
function askingRefused(asker: Asker, q: Question, f: QuestionFacts): AccessDecision | undefined {
  if (f.org === null) return notAMember();
  if (asker.kind === 'platform') return undefined;
  if (asker.kind === 'key') {
    return asker.reads || !aboutAnother(q, asker.userId) ? undefined : mayNotAsk();
  }
  if (!f.asker) return notAMember();
  if (f.asker.status !== 'active') {
    return deny('MEMBER_SUSPENDED', 'Your membership of this organization is suspended.');
  }
  return f.asker.reads || !aboutAnother(q, asker.userId) ? undefined : mayNotAsk();
}

/**
 * A permission question: the subject is an active member of the resource's organization whose
 * role holds the permission (rule 1), or on a team, its lead asking for `teams:manage` (rule 10);
 * and the resource exists.
 */
function decidePermission(q: Question, f: QuestionFacts): AccessDecision {
  const subject = f.subject;
  if (!subject) return notAMember();
  if (subject.status !== 'active') {
    return deny(
      'MEMBER_SUSPENDED',
      "The subject's membership is suspended: a suspended member may do nothing until reactivated.",
    );
  }
  const lead = q.resource.type === 'team' && subject.leads && q.action === LEAD_PERMISSION;
  if (!subject.holds && !lead) {
    return deny(
      'INSUFFICIENT_PERMISSION',
      q.resource.type === 'team'
        ? `The subject's role does not hold ${q.action}, nor does the subject lead this team.`
        : `The subject's role does not hold ${q.action}.`,
    );
  }
  return f.exists ? PERMIT : notAMember();
}

/**
 * Answers questions in order, under a batch's semantics. The facts of every question, and the
 * caller's authentication, are one statement; each preview then runs its write, rolled back.
 */
async function decide(
  deps: DomainDeps,
  ctx: RequestContext,
  questions: readonly Question[],
  semantic: Semantic,
): Promise<AccessDecision[]> {
  questions.forEach(checkQuestion);
  const caller = callerOf(ctx);
  const facts = await readDecisionFacts(deps.db, caller, questions.map(rowOf));
  const asker = askerOf(caller, facts.caller);
  const decisions: AccessDecision[] = [];
  for (const [i, q] of questions.entries()) {
    const f = facts.questions[i]!;
    const decision =
      askingRefused(asker, q, f) ??
      (previewOf(q.action) ? await preview(deps, ctx, q, f.org!) : decidePermission(q, f));
    decisions.push(decision);
    if (semantic === 'deny_on_first_deny' && !decision.decision) break;
    if (semantic === 'permit_on_first_permit' && decision.decision) break;
  }
  return decisions;
}

/** AuthZEN Access Evaluation: one question, one decision. */
export async function evaluateAccess(
  deps: DomainDeps,
  ctx: RequestContext,
  evaluation: AccessEvaluation,
): Promise<AccessDecision> {
  const [decision] = await decide(
    deps,
    ctx,
    [
      {
        subject: evaluation.subject.id,
        action: evaluation.action.name,
        resource: evaluation.resource,
        at: '/resource',
      },
    ],
    'execute_all',
  );
  return decision!;
}

/**
 * AuthZEN Access Evaluations: the top level gives defaults to each question of `evaluations`;
 * without questions there, the top level is the one question.
 */
export async function evaluateAccessBatch(
  deps: DomainDeps,
  ctx: RequestContext,
  request: AccessEvaluations,
): Promise<AccessEvaluationsResult> {
  const items = request.evaluations ?? [];
  const questions = (items.length > 0 ? items : [{}]).map((item, i): Question => {
    const where = items.length > 0 ? `/evaluations/${i}` : '';
    const pick = <K extends 'subject' | 'action' | 'resource'>(key: K) => {
      const value = item[key] ?? request[key];
      if (!value) {
        throw invalid(
          'body',
          `${where}/${key}`,
          `A question needs a ${key}: give it here or as the default at the top level.`,
        );
      }
      return value;
    };
    return {
      subject: pick('subject').id,
      action: pick('action').name,
      resource: pick('resource'),
      at: item.resource ? `${where}/resource` : '/resource',
    };
  });
  const semantic = request.options?.evaluations_semantic ?? 'execute_all';
  const decisions = await decide(deps, ctx, questions, semantic);
  return items.length > 0 ? { evaluations: decisions } : decisions[0]!;
}

// ---------------------------------------------------------------------------------------------
// Searches: keyset pages, each token bound to the request it continues.

const DEFAULT_PAGE = 50;
const PAGE_TOKEN: CursorPlace = { location: 'body', path: '/page/token' };

interface Paged {
  page?: { token?: string; limit?: number; properties?: Record<string, unknown> } | undefined;
}

/** What must stay the same from page to page: the whole request but the token. */
function listOf(kind: string, request: Paged): string {
  const { page, ...rest } = request;
  const same = { ...rest, limit: page?.limit ?? DEFAULT_PAGE, properties: page?.properties };
  const digest = createHash('sha256')
    .update(JSON.stringify(canonical(same)))
    .digest('base64url')
    .slice(0, 22);
  return `search-${kind}:${digest}`;
}

/** Where a search starts: the size of its page, the list it walks, the position after, the caller. */
function searchStart(kind: string, request: Paged, ctx: RequestContext) {
  const list = listOf(kind, request);
  return {
    limit: request.page?.limit ?? DEFAULT_PAGE,
    list,
    after: pageAfter(list, request),
    caller: callerOf(ctx),
  };
}

function pageAfter(list: string, request: Paged): string | null {
  const token = request.page?.token;
  if (token === undefined) return null;
  return keyString(decodeCursor(token, list, '', PAGE_TOKEN), 0, PAGE_TOKEN);
}

/** A page of results from `limit + 1` keys: the token of the next page names the last shown. */
function pageOf<R>(
  list: string,
  keys: readonly string[],
  limit: number,
  toResult: (key: string) => R,
) {
  const shown = keys.slice(0, limit);
  const more = keys.length > limit && shown.length > 0;
  return {
    page: { next_token: more ? encodeCursor(list, '', [shown.at(-1)]) : '', count: shown.length },
    results: shown.map(toResult),
  };
}

/**
 * AuthZEN Subject Search: the active members of the resource's organization who may do the
 * action on it, in the member list's order. The caller asks as for a question: the platform key
 * about anyone, a member with `members:read` about the members of their organization; without it
 * a member finds at most themself.
 */
export async function searchSubjects(
  deps: DomainDeps,
  ctx: RequestContext,
  request: AccessSubjectSearch,
): Promise<AccessSubjectSearchResult> {
  const question: Question = {
    subject: '',
    action: request.action.name,
    resource: request.resource,
    at: '/resource',
  };
  checkQuestion(question);
  const { limit, list, after, caller } = searchStart('subject', request, ctx);
  const facts = await readDecisionFacts(deps.db, caller, [rowOf(question)]);
  const asker = askerOf(caller, facts.caller);
  const f = facts.questions[0]!;
  const none = pageOf(list, [], limit, () => ({ type: 'user' as const, id: '' }));
  if (f.org === null || !f.exists) return none;
  let only: string | null = null;
  if (asker.kind !== 'platform') {
    if (asker.kind === 'user' && f.asker?.status !== 'active') return none;
    const reads = asker.kind === 'key' ? asker.reads : f.asker!.reads;
    if (!reads) {
      // Without members:read: at most themself, and nothing about another member.
      if (question.resource.type === 'member' && question.resource.id !== asker.userId) {
        return none;
      }
      only = asker.userId;
    }
  }
  const ids = await subjectsHolding(deps.db, {
    orgId: f.org,
    action: question.action,
    teamId: question.resource.type === 'team' ? question.resource.id : null,
    leadPermission: LEAD_PERMISSION,
    only,
    after,
    limit: limit + 1,
  });
  return pageOf(list, ids, limit, (id) => ({ type: 'user' as const, id }));
}

/**
 * AuthZEN Resource Search: the organizations, or teams, where the subject may do the action, by
 * id; only in organizations the caller may ask about the subject in.
 */
export async function searchResources(
  deps: DomainDeps,
  ctx: RequestContext,
  request: AccessResourceSearch,
): Promise<AccessResourceSearchResult> {
  const { limit, list, after, caller } = searchStart('resource', request, ctx);
  const type = request.resource.type;
  const found = await resourcesHeld(deps.db, caller, {
    subject: request.subject.id,
    action: request.action.name,
    type,
    leadPermission: LEAD_PERMISSION,
    after,
    limit: limit + 1,
  });
  askerOf(caller, found.caller);
  return pageOf(list, found.ids, limit, (id) => ({ type, id }));
}

/**
 * AuthZEN Action Search: what the subject may do on the resource, by name: the permissions a
 * question would answer `true` for, and the previews needing nothing but the resource whose
 * write would succeed now (each run, rolled back, as a question would).
 */
export async function searchActions(
  deps: DomainDeps,
  ctx: RequestContext,
  request: AccessActionSearch,
): Promise<AccessActionSearchResult> {
  const question: Question = {
    subject: request.subject.id,
    action: '',
    resource: request.resource,
    at: '/resource',
  };
  checkQuestion(question);
  const { limit, list, after, caller } = searchStart('action', request, ctx);
  const facts = await readDecisionFacts(deps.db, caller, [rowOf(question)], true);
  const asker = askerOf(caller, facts.caller);
  const f = facts.questions[0]!;
  const found: string[] = [];
  const subject = f.subject;
  if (!askingRefused(asker, question, f) && subject?.status === 'active' && f.exists) {
    const held = new Set(subject.permissions ?? []);
    if (question.resource.type === 'team' && subject.leads) held.add(LEAD_PERMISSION);
    const candidates = [
      ...held,
      ...BARE_PREVIEWS.filter((action) => PREVIEWS[action].resource === question.resource.type),
    ]
      .filter((name) => after === null || name > after)
      .sort();
    for (const name of candidates) {
      if (found.length > limit) break;
      if (!previewOf(name)) found.push(name);
      else if ((await preview(deps, ctx, { ...question, action: name }, f.org!)).decision) {
        found.push(name);
      }
    }
  }
  return pageOf(list, found, limit, (name) => ({ name }));
}

// ---------------------------------------------------------------------------------------------

const askMember = preparedRead((ex, orgId, p: { userId: string }) => ({
  target: memberFact(ex, orgId, p.userId),
}));

/**
 * What a member may do now, from the facts the decisions use: their role's permissions, and on
 * each of their teams those plus `teams:manage` where they lead (rule 10); nothing while
 * suspended. `members:read`, the member themself, or the platform key; one statement.
 */
export async function getEffectivePermissions(
  deps: DomainDeps,
  ctx: RequestContext,
  orgId: string,
  userId: string,
): Promise<EffectivePermissions> {
  return readInOrganization(
    deps,
    ctx,
    orgId,
    (_db, actor, { target }) => {
      if (actor && actor.userId !== userId) requirePermission(actor, 'members:read');
      if (!target) throw notFound('The member');
      const active = target.status === 'active';
      const organization = active ? [...target.role_permissions] : [];
      return {
        organizationId: orgId,
        userId,
        status: target.status,
        role: { id: target.role_id, name: target.role_name },
        organization,
        teams: target.teams.map((team) => ({
          teamId: team.id,
          role: team.role,
          permissions:
            active && team.role === 'lead' && !organization.includes(LEAD_PERMISSION)
              ? [...organization, LEAD_PERMISSION]
              : organization,
        })),
      };
    },
    askMember({ userId }),
  );
}
