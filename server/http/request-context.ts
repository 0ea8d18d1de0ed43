import { randomUUID } from 'node:crypto';
import type { NextFunction, Response } from 'express';
import type { Logger } from 'pino';
import { countingStatements, statementsSoFar } from '../storage/statement-count.js';
import { isApiPath, type ServiceRequest } from './service-request.js';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,200}$/;

/**
 * The first stage: a request id (accepted or made), `Cache-Control: no-store` for the API, and
 * one log line per request with its status and duration. At `debug` the line also says how many
 * database statements the request took: counting them follows the request through every promise
 * (AsyncLocalStorage), which costs a read about a twentieth of its CPU time, so only on demand.
 */
export function requestContext(
  logger: Logger,
  /** Told of every answer sent (the metrics' request durations). */
  onFinished?: (
    operationId: string | undefined,
    method: string,
    status: number,
    seconds: number,
  ) => void,
) {
  const counted = logger.isLevelEnabled('debug');
  return (req: ServiceRequest, res: Response, next: NextFunction) => {
    const given = req.get('x-request-id');
    req.requestId = given !== undefined && REQUEST_ID.test(given) ? given : randomUUID();
    res.setHeader('X-Request-Id', req.requestId);
    // Answers of the API, decisions included, are never cached: they are true only now.
    if (isApiPath(req.path)) res.setHeader('Cache-Control', 'no-store');
    const started = process.hrtime.bigint();
    const served = () => {
      res.on('finish', () => {
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        onFinished?.(req.operationId, req.method, res.statusCode, ms / 1000);
        logger.info(
          {
            requestId: req.requestId,
            method: req.method,
            path: req.path,
            operationId: req.operationId,
            status: res.statusCode,
            ms,
            statements: req.statements ?? statementsSoFar(),
            credential: req.credential?.kind,
          },
          'request',
        );
      });
      next();
    };
    if (counted) countingStatements(served);
    else served();
  };
}
