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

/**
 * Access tokens of the product's identity provider, verified with `jose` against its JWKS: the
 * key set is fetched on first use, cached, and fetched again for an unknown `kid` (one fetch at
 * a time, at most once per cooldown), so a key rotation needs no restart and a flood of tokens
 * with made-up `kid`s cannot make the service hammer the provider.
 */
export function jwtVerifier(config: TokenConfig): TokenVerifier {
  const keys = createRemoteJWKSet(new URL(config.jwksUrl), {
    cooldownDuration: config.cooldownMs ?? 30_000,
    cacheMaxAge: 10 * 60_000,
    timeoutDuration: 5_000,
  });
  return {
    async verify(token) {
      try {
        const { payload } = await jwtVerify(token, keys, {
          algorithms: ALGORITHMS,
          issuer: config.issuer,
          audience: config.audience,
          requiredClaims: ['exp'],
          clockTolerance: 5,
        });
        const userId = payload[config.userClaim];
        if (typeof userId !== 'string' || !USER_ID.test(userId)) {
          return { refused: `its ${config.userClaim} claim is not a user id` };
        }
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
