import type { Client, MaybeOptionalInit } from 'openapi-fetch';
import type { components, paths } from './generated/api.js';

type Problem = components['schemas']['Problem'];
type ErrorCode = components['schemas']['ErrorCode'];

/** The GET operation of a path, or `never` when the path has none. */
type GetOperation<P extends keyof paths> = paths[P] extends { get: infer Op } ? Op : never;

/** The JSON body of an operation's 200 answer, or `never`. */
type OkBody<Op> = Op extends { responses: { 200: { content: { 'application/json': infer B } } } }
  ? B
  : never;

/** One page of a list: the contract's `*List` schemas (`{ data, nextCursor }`). */
interface Page {
  data: readonly unknown[];
  nextCursor: string | null;
}

/**
 * Every path whose GET answers one page of a list, `{ data: [...], nextCursor }`: the paths
 * `paginate()` walks. Derived from the contract, so a new list operation joins it by itself.
 */
export type ListPath = {
  [P in keyof paths]: [OkBody<GetOperation<P>>] extends [never]
    ? never
    : OkBody<GetOperation<P>> extends Page
      ? P
      : never;
}[keyof paths];

/** The type of one item of the list at `P` (`Member` for `/v1/organizations/{orgId}/members`). */
export type ListItem<P extends ListPath> =
  OkBody<GetOperation<P>> extends { data: readonly (infer Item)[] } ? Item : never;

/**
 * What `paginate()` takes after the path: the same options as `client.GET(path, …)` (path
 * parameters, filters, `limit`; a `cursor` resumes a walk where an earlier one stopped).
 */
export type ListOptions<P extends ListPath> = MaybeOptionalInit<paths[P], 'get'>;

type ListOptionsArgs<P extends ListPath> =
  undefined extends ListOptions<P> ? [options?: ListOptions<P>] : [options: ListOptions<P>];

export type Paginate = <P extends ListPath>(
  path: P,
  ...options: ListOptionsArgs<P>
) => AsyncGenerator<ListItem<P>, void, undefined>;

/**
 * A request the service refused. `problem` is its `application/problem+json` answer (typed by the
 * contract, with a stable `code`); it is `undefined` only when something other than the service
 * answered (a proxy's HTML error page, say).
 */
export class ProblemError extends Error {
  override readonly name = 'ProblemError';
  readonly status: number;
  readonly problem: Problem | undefined;
  readonly code: ErrorCode | undefined;

  constructor(method: string, path: string, response: Response, body: unknown) {
    const problem = isProblem(body) ? body : undefined;
    const reason = problem
      ? `${problem.code}${problem.detail ? `: ${problem.detail}` : ` (${problem.title})`}`
      : response.statusText || 'not a problem+json answer';
    super(`${method} ${path} answered ${response.status} ${reason}`);
    this.status = response.status;
    this.problem = problem;
    this.code = problem?.code;
  }
}

function isProblem(body: unknown): body is Problem {
  return (
    typeof body === 'object' &&
    body !== null &&
    typeof (body as { code?: unknown }).code === 'string' &&
    typeof (body as { status?: unknown }).status === 'number'
  );
}

interface QueryOptions {
  params?: { query?: Record<string, unknown> | undefined } & Record<string, unknown>;
}
type LooseGet = (
  path: string,
  options: object,
) => Promise<{ data?: Page; error?: unknown; response: Response }>;

/**
 * Walks a list page by page, following `nextCursor` until it is `null`, and yields each item.
 * A refused page throws a `ProblemError`; items already yielded stay yielded.
 */
export function paginator(client: Client<paths>): Paginate {
  const get = client.GET as unknown as LooseGet;
  return async function* paginate(path: string, options?: QueryOptions) {
    let cursor = options?.params?.query?.cursor;
    for (;;) {
      const query = { ...options?.params?.query, cursor };
      const { data, error, response } = await get(path, {
        ...options,
        params: { ...options?.params, query },
      });
      if (error !== undefined || data === undefined) {
        throw new ProblemError('GET', path, response, error);
      }
      yield* data.data;
      if (data.nextCursor === null) return;
      if (data.nextCursor === cursor) {
        // A cursor that does not move would loop for ever (a caching proxy can cause it).
        throw new Error(`GET ${path} answered the same nextCursor twice: ${cursor}`);
      }
      cursor = data.nextCursor;
    }
  } as Paginate;
}
