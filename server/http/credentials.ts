import { timingSafeEqual } from 'node:crypto';
import type { NextFunction, Response } from 'express';
import type { Credential } from '../domain/context.js';
import { hashSecret } from '../infra/secrets.js';
import type { ServiceRequest } from './service-request.js';

/**
 * Stage `identify`: what credential the request presents, without asking the database. The
 * platform key is recognised by its hash; any other secret is a member's key to be looked up in
 * the same statement as the answer. `Authorization: Bearer …` and `X-API-Key` are both accepted;
 * two different secrets are refused like a wrong one.
 */
export function identify(platformKeyHash: string) {
  const platformHash = Buffer.from(platformKeyHash);
  return (req: ServiceRequest, _res: Response, next: NextFunction) => {
    req.secret = presentedSecret(req);
    req.credential = credentialOf(req.secret, platformHash);
    next();
  };
}

function credentialOf(secret: string | undefined, platformHash: Buffer): Credential {
  if (secret === undefined) return { kind: 'anonymous' };
  const secretHash = hashSecret(secret);
  if (timingSafeEqual(Buffer.from(secretHash), platformHash)) return { kind: 'platform' };
  return { kind: 'key', secretHash };
}

/** The secret from `Authorization: Bearer …` or `X-API-Key`; two different secrets are refused. */
function presentedSecret(req: ServiceRequest): string | undefined {
  const authorization = req.get('authorization');
  const bearer =
    authorization === undefined ? undefined : (/^Bearer +(\S+) *$/i.exec(authorization)?.[1] ?? '');
  const apiKey = req.get('x-api-key');
  if (bearer !== undefined && apiKey !== undefined && bearer !== apiKey) return '';
  return bearer ?? apiKey;
}

/** For the contract's security schemes: a credential was presented (whether it is valid, later). */
export const presented = (req: ServiceRequest) =>
  req.credential !== undefined && req.credential.kind !== 'anonymous';
