import { createRemoteJWKSet, errors, jwtVerify } from 'jose';

export interface TokenConfig {
  /** Where the identity provider publishes its signing keys (JWKS). */
  jwksUrl: string;
  issuer: string;
  audience: string;
  /** The claim that names the user (default `sub`). */
  userClaim: string;
  /** The least time between two fetches of the key set for an unknown `kid` (default 30 s). */
  cooldownMs?: number;
}

/**
 * A verified token names a user; a refused one says why, in words a developer can act on; when the
 * identity provider's keys cannot be fetched, nothing can be said about the token.
 */
export type TokenCheck = { userId: string } | { refused: string } | { unavailable: true };

export interface TokenVerifier {
  verify(token: string): Promise<TokenCheck>;
}

/** The signature algorithms accepted: asymmetric only, so `none` and HMAC are refused. */
const ALGORITHMS = ['RS256', 'ES256', 'EdDSA'];
const USER_ID = /^[A-Za-z0-9._~@|:+=-]{1,255}$/;

/** True when a bearer credential has the shape of a JWT (API keys never contain dots). */
export const looksLikeJwt = (bearer: string) =>
  /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(bearer);

/** How long a verified token is taken at its word before it is verified again, at most. */
const REVERIFY_AFTER_MS = 60_000;
/** Verified tokens kept at most (the oldest go first). */
const VERIFIED_KEPT = 10_000;
const CLOCK_TOLERANCE_S = 5;

/**
 * Access tokens of the product's identity provider, verified with `jose` against its JWKS: the
 * key set is fetched on first use, cached, and fetched again for an unknown `kid` (one fetch at
 * a time, at most once per cooldown), so a key rotation needs no restart and a flood of tokens
 * with made-up `kid`s cannot make the service hammer the provider.
 *
 * A product sends the same token with every request of a user's session: a token that verified
 * is taken at its word for a minute at most, and never past its expiry (or before its `nbf`),
 * instead of checking its signature each time (a third of a read's CPU time). The key set itself
 * is cached for ten minutes, so a minute adds nothing to how long a withdrawn key is honoured.
 */
export function jwtVerifier(config: TokenConfig, now: () => number = Date.now): TokenVerifier {
  const keys = createRemoteJWKSet(new URL(config.jwksUrl), {
    cooldownDuration: config.cooldownMs ?? 30_000,
    cacheMaxAge: 10 * 60_000,
    timeoutDuration: 5_000,
  });
  const verified = new Map<string, { userId: string; from: number; until: number }>();
  return {
    async verify(token) {
      const at = now();
      const known = verified.get(token);
      if (known !== undefined && known.from <= at && at < known.until) {
        return { userId: known.userId };
      }
      verified.delete(token);
      try {
        const { payload } = await jwtVerify(token, keys, {
          algorithms: ALGORITHMS,
          issuer: config.issuer,
          audience: config.audience,
          requiredClaims: ['exp'],
          clockTolerance: CLOCK_TOLERANCE_S,
          currentDate: new Date(at),
        });
        const userId = payload[config.userClaim];
        if (typeof userId !== 'string' || !USER_ID.test(userId)) {
          return { refused: `its ${config.userClaim} claim is not a user id` };
        }
        if (verified.size >= VERIFIED_KEPT) verified.delete(verified.keys().next().value!);
        verified.set(token, {
          userId,
          from: payload.nbf === undefined ? at : (payload.nbf - CLOCK_TOLERANCE_S) * 1000,
          until: Math.min(at + REVERIFY_AFTER_MS, (payload.exp! + CLOCK_TOLERANCE_S) * 1000),
        });
        return { userId };
      } catch (error) {
        if (error instanceof errors.JWKSTimeout || !(error instanceof errors.JOSEError)) {
          return { unavailable: true };
        }
        return { refused: reasonOf(error) };
      }
    },
  };
}

/** What was wrong with a token, without detail an attacker could use. */
function reasonOf(error: unknown): string {
  if (error instanceof errors.JWTExpired) return 'it has expired';
  if (error instanceof errors.JWTClaimValidationFailed) {
    switch (error.claim) {
      case 'nbf':
        return 'it is not valid yet';
      case 'iss':
        return 'it was issued by another issuer';
      case 'aud':
        return 'it is meant for another audience';
      case 'exp':
        return 'it has no expiry';
      default:
        return `its ${error.claim} claim is not valid`;
    }
  }
  if (error instanceof errors.JOSEAlgNotAllowed) {
    return `it is not signed with an accepted algorithm (${ALGORITHMS.join(', ')})`;
  }
  if (error instanceof errors.JWKSNoMatchingKey) {
    return 'it is signed with a key the identity provider does not publish';
  }
  if (error instanceof errors.JWSSignatureVerificationFailed)
    return 'its signature does not verify';
  return 'it is not a well-formed signed token';
}
