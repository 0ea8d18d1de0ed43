import { timingSafeEqual } from 'node:crypto';
import type { NextFunction, Response } from 'express';
import type { Credential } from '../domain/context.js';
import { AppError } from '../errors.js';
import { hashSecret } from '../infra/secrets.js';
import { looksLikeJwt, type TokenVerifier } from '../infra/tokens.js';
import { isApiPath, type ServiceRequest } from './service-request.js';

/**
 * Stage `identify`, for the API (`/v1` and the decision point's `/access/v1`): what credential the request presents, without asking
 * the database. The platform key is recognised by its hash; an access token (a JWT) is verified
 * against the identity provider's keys and names a user; any other secret is a member's key, to
 * be looked up in the same statement as the answer. `Authorization: Bearer …` and `X-API-Key` are
 * both accepted; two different secrets are refused like a wrong one. `On-Behalf-Of` turns the
 * platform key into the member it names, and is refused with any other credential.
 */
export function identify(platformKeyHash: string, tokens: TokenVerifier | undefined) {
  const platformHash = Buffer.from(platformKeyHash);
  return (req: ServiceRequest, _res: Response, next: NextFunction) => {
    if (!isApiPath(req.path)) {
      req.credential = { kind: 'anonymous' };
      return next();
    }
    req.secret = presentedSecret(req);
    void credentialFor(req, platformHash, tokens).then(
      (credential) => {
        req.credential = credential;
        next();
      },
      (error: unknown) => {
        req.credential ??= { kind: 'anonymous' };
        next(error);
      },
    );
  };
}

async function credentialFor(
  req: ServiceRequest,
  platformHash: Buffer,
  tokens: TokenVerifier | undefined,
): Promise<Credential> {
  const credential = await credentialOf(req.secret, platformHash, tokens);
  const onBehalfOf = req.get('on-behalf-of');
  if (onBehalfOf === undefined) return credential;
  if (credential.kind !== 'platform') {
    req.credential = credential;
    throw new AppError(
      'ON_BEHALF_OF_NOT_ALLOWED',
      'Only the platform key may act on behalf of a member (On-Behalf-Of).',
    );
  }
  return { kind: 'user', userId: onBehalfOf, via: 'platform' };
}

async function credentialOf(
  secret: string | undefined,
  platformHash: Buffer,
  tokens: TokenVerifier | undefined,
): Promise<Credential> {
  if (secret === undefined) return { kind: 'anonymous' };
  if (looksLikeJwt(secret)) {
    if (!tokens) {
      throw tokenRefused('this service is not configured to accept access tokens; send an API key');
    }
    const check = await tokens.verify(secret);
    if ('userId' in check) return { kind: 'user', userId: check.userId, via: 'token' };
    if ('unavailable' in check) {
      throw new AppError(
        'SERVICE_UNAVAILABLE',
        'The identity provider’s signing keys could not be fetched to verify the access token; retry shortly.',
        undefined,
        { 'Retry-After': '5' },
      );
    }
    throw tokenRefused(check.refused);
  }
  const secretHash = hashSecret(secret);
  if (timingSafeEqual(Buffer.from(secretHash), platformHash)) return { kind: 'platform' };
  return { kind: 'key', secretHash };
}

const tokenRefused = (reason: string) =>
  new AppError('UNAUTHENTICATED', `The access token is not valid: ${reason}.`, undefined, {
    'WWW-Authenticate': `Bearer realm="member-roles", error="invalid_token", error_description="The access token is not valid: ${reason.replaceAll('"', "'")}"`,
  });

/** The secret from `Authorization: Bearer …` or `X-API-Key`; two different secrets are refused. */
function presentedSecret(req: ServiceRequest): string | undefined {
  const authorization = req.get('authorization');
  const bearer =
    authorization === undefined ? undefined : (/^Bearer +(\S+) *$/i.exec(authorization)?.[1] ?? '');
  const apiKey = req.get('x-api-key');
  if (bearer !== undefined && apiKey !== undefined && bearer !== apiKey) return '';
  return bearer ?? apiKey;
}

/**
 * For the contract's security schemes: a credential was presented (whether it is valid, later).
 * An empty `Authorization`, one of another scheme (`Basic …`) or two different secrets present
 * none: such a request is 401 before its input is looked at, like one with no header at all.
 */
export const presented = (req: ServiceRequest) =>
  req.credential !== undefined && req.credential.kind !== 'anonymous' && req.secret !== '';
