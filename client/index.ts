import createClient, { type Client, type Middleware } from 'openapi-fetch';
import type { components, operations, paths } from './generated/api.js';
import { paginator, type Paginate } from './paginate.js';

export type { components, operations, paths };
export {
  ProblemError,
  type ListItem,
  type ListOptions,
  type ListPath,
  type Paginate,
} from './paginate.js';
/** Every error the service answers with (application/problem+json). */
export type Problem = components['schemas']['Problem'];
export type ErrorCode = components['schemas']['ErrorCode'];
export type Member = components['schemas']['Member'];
export type Role = components['schemas']['Role'];
export type Organization = components['schemas']['Organization'];
export type AuditEvent = components['schemas']['AuditEvent'];
/** An AuthZEN access question (`POST /access/v1/evaluation`) and its answer. */
export type AccessEvaluation = components['schemas']['AccessEvaluation'];
export type AccessDecision = components['schemas']['AccessDecision'];
export type AccessEvaluations = components['schemas']['AccessEvaluations'];
export type EffectivePermissions = components['schemas']['EffectivePermissions'];
/** An invitation; `InvitationCreated` also carries its token, answered once. */
export type Invitation = components['schemas']['Invitation'];
export type InvitationCreated = components['schemas']['InvitationCreated'];
/** One item of `batchMembers` or `batchInvitations`, and the whole answer. */
export type MemberBatchOperation = components['schemas']['MemberBatchOperation'];
export type BatchItemResult = components['schemas']['BatchItemResult'];
export type BatchResult = components['schemas']['BatchResult'];

// Every option also accepts `undefined`, so `apiKey: process.env.MEMBER_ROLES_KEY` type-checks
// under `exactOptionalPropertyTypes` (which `tsc --init` turns on).
export interface MemberRolesClientOptions {
  /** Where the service runs, e.g. `http://127.0.0.1:3000` (no `/v1`: paths carry it, and `/access/v1`). */
  baseUrl: string;
  /** A member's API key or the platform key, sent as `Authorization: Bearer …`. */
  apiKey?: string | undefined;
  /** A fetch implementation, for tests or other runtimes; the global fetch otherwise. */
  fetch?: typeof globalThis.fetch | undefined;
  /** Makes the `X-Request-Id` of each request; the service makes one when this is absent. */
  requestId?: (() => string) | undefined;
  /** How often a request refused with 429 or 503 and `Retry-After` is sent again (default 2). */
  retries?: number | undefined;
  /** The longest `Retry-After` worth waiting for, in seconds (default 10). */
  maxRetryAfterSeconds?: number | undefined;
}

export interface MemberRolesClient extends Client<paths> {
  /**
   * Every item of a list, page after page: `for await (const m of client.paginate(path, options))`.
   * `path` is any list operation's path (its GET answers `{ data, nextCursor }`); `options` are
   * those of `client.GET(path, …)`. A refused page throws a `ProblemError`.
   */
  paginate: Paginate;
}

/** RFC 3986 strict: encodeURIComponent leaves !'()* as they are, and the service refuses them raw. */
const encode = (text: string) =>
  encodeURIComponent(text).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );

function serializeQuery(query: Record<string, unknown>): string {
  return Object.entries(query)
    .flatMap(([name, value]) =>
      value === undefined || value === null
        ? []
        : (Array.isArray(value) ? value : [value]).map(
            (item) => `${encode(name)}=${encode(String(item))}`,
          ),
    )
    .join('&');
}

const RETRYABLE_METHODS = new Set(['GET', 'HEAD', 'PUT', 'DELETE']);

/**
 * A typed client of the member-roles API: `openapi-fetch` over the contract's `paths`, with the
 * API key, request ids and polite retries. Path parameters such as `auth0|654a…` are
 * percent-encoded; `{ data, error }` narrows, and `error` is a typed `Problem`.
 */
export function createMemberRolesClient(options: MemberRolesClientOptions): MemberRolesClient {
  const fetchImpl = options.fetch ?? globalThis.fetch;
  const client = createClient<paths>({
    baseUrl: options.baseUrl.replace(/\/+$/, ''),
    fetch: (request: Request) => fetchImpl(request),
    querySerializer: serializeQuery,
  });

  const { apiKey, requestId } = options;
  const headers: Middleware = {
    onRequest({ request }) {
      if (apiKey !== undefined) request.headers.set('Authorization', `Bearer ${apiKey}`);
      if (requestId && !request.headers.has('X-Request-Id')) {
        request.headers.set('X-Request-Id', requestId());
      }
      return request;
    },
  };

  const retries = options.retries ?? 2;
  const maxWait = options.maxRetryAfterSeconds ?? 10;
  const originals = new Map<string, Request>();
  const retry: Middleware = {
    onRequest({ request, id }) {
      const replayable =
        RETRYABLE_METHODS.has(request.method) || request.headers.has('Idempotency-Key');
      if (retries > 0 && replayable) originals.set(id, request.clone());
      return undefined;
    },
    async onResponse({ response, id }) {
      const original = originals.get(id);
      originals.delete(id);
      let current = response;
      for (let attempt = 0; original && attempt < retries; attempt += 1) {
        if (current.status !== 429 && current.status !== 503) break;
        const wait = Number(current.headers.get('Retry-After'));
        if (!Number.isFinite(wait) || wait < 0 || wait > maxWait) break;
        await new Promise((resolve) => setTimeout(resolve, wait * 1000));
        current = await fetchImpl(original.clone());
      }
      return current;
    },
    onError({ id }) {
      originals.delete(id);
    },
  };

  client.use(headers, retry);
  return Object.assign(client, { paginate: paginator(client) });
}
