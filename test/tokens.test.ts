import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { jwtVerifier } from '../server/infra/tokens.js';
import { AUDIENCE, ISSUER, TestIdentityProvider } from './support/identity-provider.js';

let idp: TestIdentityProvider;
beforeAll(async () => {
  idp = await new TestIdentityProvider().start();
});
afterAll(async () => {
  await idp.stop();
});

/** A verifier whose clock the test moves. */
function verifierAt(start: number) {
  let at = start;
  const verifier = jwtVerifier(
    { jwksUrl: idp.url, issuer: ISSUER, audience: AUDIENCE, userClaim: 'sub' },
    () => at,
  );
  return { verifier, advance: (ms: number) => (at += ms) };
}

describe('access tokens, verified once and then taken at their word for a while', () => {
  test('a verified token stops acting once it expires, even while it is remembered', async () => {
    const { verifier, advance } = verifierAt(Date.now());
    const token = await idp.token('usr_ada', { expiresIn: '30s' });
    expect(await verifier.verify(token)).toEqual({ userId: 'usr_ada' });
    advance(20_000);
    expect(await verifier.verify(token)).toEqual({ userId: 'usr_ada' });
    // 30 s of validity and 5 s of clock tolerance have passed.
    advance(16_000);
    expect(await verifier.verify(token)).toEqual({ refused: 'it has expired' });
  });

  test('only the very token verified is remembered: the same claims with another signature are refused', async () => {
    const { verifier } = verifierAt(Date.now());
    const token = await idp.token('usr_ada', { expiresIn: '10m' });
    expect(await verifier.verify(token)).toEqual({ userId: 'usr_ada' });
    const [header, payload] = token.split('.');
    const forged = `${header}.${payload}.${Buffer.alloc(256, 1).toString('base64url')}`;
    expect(await verifier.verify(forged)).toEqual({ refused: 'its signature does not verify' });
    expect(await verifier.verify(token)).toEqual({ userId: 'usr_ada' });
  });

  test('a token that is not valid yet is refused, and is not remembered as refused', async () => {
    const start = Date.now();
    const { verifier, advance } = verifierAt(start);
    const notBefore = Math.floor(start / 1000) + 60;
    const token = await idp.token('usr_ada', { notBefore, expiresIn: '10m' });
    expect(await verifier.verify(token)).toEqual({ refused: 'it is not valid yet' });
    advance(60_000);
    expect(await verifier.verify(token)).toEqual({ userId: 'usr_ada' });
  });
});
