import { createHash } from 'node:crypto';
import { canonical } from '../domain/canonical.js';
import type { Logger } from 'pino';
import { requireAuthenticated } from '../domain/access.js';
import type { DomainDeps, RequestContext } from '../domain/context.js';
import { AppError } from '../errors.js';
import {
  claimIdempotencyKey,
  completeIdempotencyKey,
  idempotencyScope,
  releaseIdempotencyKey,
} from '../infra/idempotency.js';
import type { Answer, Invoke } from './answer.js';
import { problemOf } from './problem.js';
import type { ServiceRequest } from './service-request.js';

/**
 * Stage `idempotency`, for the operations whose contract declares `Idempotency-Key`: the first
 * request with a key claims it; the change marks the claim committed inside its own transaction
 * (the unit of work does, from `ctx.idempotency`); its answer, refusals included, is stored sealed
 * with the caller's secret, and a retry with the same key and request gets that answer again.
 */
export function withIdempotency(deps: DomainDeps, logger: Logger, invoke: Invoke): Invoke {
  return async (req, ctx) => {
    const key = req.get('idempotency-key');
    if (key === undefined || ctx.credential.kind === 'anonymous') return invoke(req, ctx);
    // Only a real credential may hold a key (an unknown one is 401 before anything is stored).
    await requireAuthenticated(deps.db, ctx);
    const scope = idempotencyScope(ctx.credential);
    const secret = req.secret ?? '';
    const claim = await claimIdempotencyKey(deps, scope, key, fingerprint(req), secret);
    if (claim.kind === 'replay') {
      const { response } = claim;
      return {
        ...response,
        contentType: response.status >= 400 ? 'application/problem+json' : 'application/json',
      };
    }
    const claimed: RequestContext = { ...ctx, idempotency: { scope, key } };
    let answer: Answer;
    try {
      answer = await invoke(req, claimed);
    } catch (error) {
      if (!(error instanceof AppError) || error.status >= 500) {
        // Nothing committed: the key is free for a retry.
        await releaseIdempotencyKey(deps, scope, key).catch((releaseError: unknown) =>
          logger.error(
            { err: releaseError, requestId: req.requestId },
            'could not release an idempotency key',
          ),
        );
        throw error;
      }
      // A refusal is an answer to remember like any other.
      answer = { ...problemOf(req, error), contentType: 'application/problem+json' };
    }
    // The change is committed: whatever happens to the record, this answer is the truth. A record
    // left unfinished makes retries wait (409) rather than run the change again.
    await completeIdempotencyKey(
      deps,
      scope,
      key,
      {
        status: answer.status,
        headers: pick(answer.headers ?? {}, ['ETag', 'Location']),
        body: answer.body,
      },
      secret,
    ).catch((error: unknown) =>
      logger.error(
        { err: error, requestId: req.requestId },
        'could not store the answer of an idempotency key',
      ),
    );
    return answer;
  };
}

const pick = (headers: Record<string, string>, names: string[]) =>
  Object.fromEntries(names.filter((n) => headers[n] !== undefined).map((n) => [n, headers[n]!]));

/**
 * What makes two requests "the same" for an idempotency key: the operation, its decoded path
 * parameters (`a%7Cb` and `a|b` are one user) and the body.
 */
function fingerprint(req: ServiceRequest): string {
  return createHash('sha256')
    .update(JSON.stringify([req.operationId, canonical(req.params), canonical(req.body ?? null)]))
    .digest('hex');
}
