// A local identity provider for the bench: it publishes one signing key as a JWKS on 127.0.0.1
// and signs access tokens with it, so getMember can be measured with a token as a product's
// backend would send one (the service verifies it with jose against this JWKS).
import { createServer } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';

export const ISSUER = 'https://id.bench.test/';
export const AUDIENCE = 'member-roles-bench';

export async function startIdentityProvider() {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const jwks = JSON.stringify({
    keys: [{ ...(await exportJWK(publicKey)), kid: 'bench-1', alg: 'ES256', use: 'sig' }],
  });
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(jwks);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    env: {
      MEMBER_ROLES_JWT_JWKS_URL: `http://127.0.0.1:${server.address().port}/jwks.json`,
      MEMBER_ROLES_JWT_ISSUER: ISSUER,
      MEMBER_ROLES_JWT_AUDIENCE: AUDIENCE,
    },
    /** An access token for `sub`, valid for an hour. */
    token: (sub) =>
      new SignJWT({})
        .setProtectedHeader({ alg: 'ES256', kid: 'bench-1' })
        .setSubject(sub)
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setIssuedAt()
        .setExpirationTime('1h')
        .sign(privateKey),
    stop: () => new Promise((resolve) => server.close(resolve)),
  };
}
