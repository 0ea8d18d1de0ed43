import { timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { AppError } from '../errors.js';
import { hashSecret } from '../infra/secrets.js';

/**
 * Stage `metricsAccess`, for `GET /metrics` only: the platform key (as `Authorization: Bearer` or
 * `X-API-Key`), unless the deployment made the metrics public (MEMBER_ROLES_METRICS_PUBLIC=1).
 * The API's own `identify` stage covers `/v1` and knows nothing of this path.
 */
export function metricsAccess(platformKeyHash: string, open: boolean) {
  const platformHash = Buffer.from(platformKeyHash);
  return (req: Request, _res: Response, next: NextFunction) => {
    if (open) return next();
    const bearer = /^Bearer +(\S+) *$/i.exec(req.get('authorization') ?? '')?.[1];
    const secret = bearer ?? req.get('x-api-key');
    if (secret !== undefined && timingSafeEqual(Buffer.from(hashSecret(secret)), platformHash)) {
      return next();
    }
    next(
      new AppError(
        'UNAUTHENTICATED',
        'The metrics need the platform key (`Authorization: Bearer <platform key>`), unless MEMBER_ROLES_METRICS_PUBLIC=1.',
      ),
    );
  };
}
