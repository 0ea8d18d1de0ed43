import type { NextFunction, RequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import { routes } from '../../generated/routes.js';
import type { DomainDeps, RequestContext } from '../domain/context.js';
import type { UsageRecorder } from '../infra/usage.js';
import { statementsSoFar } from '../storage/statement-count.js';
import { AppError } from '../errors.js';
import { send, type Invoke } from './answer.js';
import type { Handlers } from './handler-types.js';
import { withIdempotency } from './idempotency.js';
import type { ServiceRequest } from './service-request.js';

export interface OperationDeps extends DomainDeps {
  logger: Logger;
  usage: UsageRecorder;
}

/**
 * Stage `operation`: every route of the contract's route table, each calling its handler (through
 * the idempotency stage where the contract declares `Idempotency-Key`), sending its answer, and
 * telling the usage recorder how the credential fared. The validator stage has already matched
 * the request to its operation (and its decoded path parameters) from the same contract, so the
 * operation is found by its id, not matched a second time against fifty Express routes.
 */
export function operations(handlers: Handlers, deps: OperationDeps): RequestHandler {
  const byOperation = new Map<string, RequestHandler>();
  for (const route of routes) {
    // Each handler is typed by its operation in `Handlers`; here they are called uniformly.
    const handler = handlers[route.operationId] as unknown as (input: {
      params: unknown;
      query: unknown;
      body: unknown;
      headers: Record<string, string | undefined>;
      ctx: RequestContext;
      origin: string;
    }) => ReturnType<Invoke>;
    const call: Invoke = async (req, ctx) =>
      handler({
        params: req.params,
        query: req.query,
        body: req.body,
        headers: {
          'Cache-Control': req.get('cache-control'),
          'If-Match': req.get('if-match'),
          'Idempotency-Key': req.get('idempotency-key'),
          'X-Request-Id': req.get('x-request-id'),
        },
        ctx,
        origin: `${req.protocol}://${req.get('host') ?? ''}`,
      });
    const invoke = route.idempotent ? withIdempotency(deps, deps.logger, call) : call;
    const operationId = route.operationId;
    const exactly = exactPath(route.path);
    byOperation.set(operationId, async (req: ServiceRequest, res: Response, next: NextFunction) => {
      // The path as the contract writes it: no trailing slash, letters in their case. Another
      // spelling is no operation of the contract (nor is its answer one of the operation's).
      if (!exactly.test(req.path)) {
        delete (req as MatchedRequest).openapi;
        return next(new AppError('NOT_FOUND', 'No such resource.'));
      }
      req.operationId = operationId;
      const credential = req.credential ?? { kind: 'anonymous' };
      let status: number;
      try {
        const answer = await invoke(req, { credential, requestId: req.requestId! });
        status = answer.status;
        settle(req, credential, status, deps.usage);
        send(res, answer);
      } catch (error) {
        settle(req, credential, (error as { status?: number }).status ?? 500, deps.usage);
        next(error);
      }
    });
  }
  return (req, res, next) => {
    const matched = (req as MatchedRequest).openapi;
    const run = byOperation.get(matched?.schema?.operationId ?? '');
    if (run === undefined) return next();
    // Express gives each middleware its own (empty) params: the operation's are the validator's.
    req.params = matched!.pathParams;
    void run(req, res, next);
  };
}

interface MatchedRequest extends ServiceRequest {
  openapi?: { schema?: { operationId?: string }; pathParams: Record<string, string> };
}

/** `/v1/organizations/{orgId}` → a pattern matching that path and no other spelling of it. */
function exactPath(path: string): RegExp {
  const pattern = path
    .split(/(\{[^}]+\})/)
    .map((part) => (part.startsWith('{') ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${pattern}$`);
}

function settle(
  req: ServiceRequest,
  credential: RequestContext['credential'],
  status: number,
  usage: UsageRecorder,
) {
  req.statements = statementsSoFar();
  if (credential.kind !== 'anonymous') usage.settled(credential, status);
}
