import type { Express, NextFunction, Request, Response } from 'express';
import { AppError } from '../errors.js';
import { sendProblem, type ProblemRequest } from './problem.js';

/**
 * Paths match exactly as the contract writes them: `/V1/…` and `/v1/organizations/` are not
 * `/v1/organizations` (the validator follows the same settings). Call before the first route.
 */
export function exactRouting(app: Express): void {
  app.set('case sensitive routing', true);
  app.set('strict routing', true);
}

/** Headers that carry a credential: one of each, or the request is ambiguous. */
const CREDENTIAL_HEADERS = new Map([
  ['authorization', 'Authorization'],
  ['x-api-key', 'X-API-Key'],
]);

/**
 * A request carrying a credential header twice is refused with 400: Node keeps only the first
 * `Authorization` (and joins two `X-API-Key` with a comma), so which key would act is not what
 * the sender may think. `rawHeaders` still holds every line.
 */
export function refuseDuplicateCredentials(req: Request, res: Response, next: NextFunction) {
  const seen = new Set<string>();
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i]!.toLowerCase();
    const spelled = CREDENTIAL_HEADERS.get(name);
    if (spelled === undefined) continue;
    if (seen.has(name)) {
      const message = `must be sent once; the request has more than one ${spelled} header`;
      sendProblem(
        req as ProblemRequest,
        res,
        new AppError('VALIDATION_FAILED', `Send one ${spelled} header.`, [
          { location: 'header', path: spelled, message },
        ]),
      );
      return;
    }
    seen.add(name);
  }
  next();
}
