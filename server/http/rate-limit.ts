import type { NextFunction, Response } from 'express';
import { AppError } from '../errors.js';
import type { UsageRecorder } from '../infra/usage.js';
import { isApiPath, type ServiceRequest } from './service-request.js';

/**
 * Stage `rateLimit`: counts the request against its credential's per-minute limit (in this
 * process; see UsageRecorder for how processes share it) and refuses it with 429 beyond the limit.
 * Every answer carries the RateLimit headers.
 */
export function rateLimit(
  usage: UsageRecorder,
  /** Told of every refusal (the metrics' count), with the kind of credential refused. */
  onRefused?: (credential: string) => void,
) {
  return (req: ServiceRequest, res: Response, next: NextFunction) => {
    const credential = req.credential;
    if (!usage.limiting || !credential || credential.kind === 'anonymous') return next();
    // The API and the decision point (access questions count like any request), not health checks,
    // docs or the public AuthZEN metadata.
    if (!isApiPath(req.path)) return next();
    const decision = usage.take(credential);
    res.setHeader('RateLimit-Limit', String(decision.limit));
    res.setHeader('RateLimit-Remaining', String(decision.remaining));
    res.setHeader('RateLimit-Reset', String(decision.reset));
    if (decision.allowed) return next();
    res.setHeader('Retry-After', String(decision.reset));
    onRefused?.(credential.kind);
    next(
      new AppError(
        'RATE_LIMITED',
        `This API key has made more than ${decision.limit} requests this minute.`,
      ),
    );
  };
}
