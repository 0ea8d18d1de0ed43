import type { Express, NextFunction, Response } from 'express';
import type { Logger } from 'pino';
import { routes } from '../../generated/routes.js';
import type { DomainDeps, RequestContext } from '../domain/context.js';
import type { UsageRecorder } from '../infra/usage.js';
import { statementsSoFar } from '../storage/statement-count.js';
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
 * telling the usage recorder how the credential fared.
 */
export function registerOperations(app: Express, handlers: Handlers, deps: OperationDeps) {
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
          'If-Match': req.get('if-match'),
          'Idempotency-Key': req.get('idempotency-key'),
          'X-Request-Id': req.get('x-request-id'),
        },
        ctx,
        origin: `${req.protocol}://${req.get('host') ?? ''}`,
      });
    const invoke = route.idempotent ? withIdempotency(deps, deps.logger, call) : call;
    app[route.method](
      route.expressPath,
      async (req: ServiceRequest, res: Response, next: NextFunction) => {
        req.operationId = route.operationId;
        const credential = req.credential ?? { kind: 'anonymous' };
        const settled = (status: number) => {
          req.statements = statementsSoFar();
          if (credential.kind !== 'anonymous') deps.usage.settled(credential, status);
        };
        try {
          const answer = await invoke(req, { credential, requestId: req.requestId! });
          settled(answer.status);
          send(res, answer);
        } catch (error) {
          settled((error as { status?: number }).status ?? 500);
          next(error);
        }
      },
    );
  }
}
