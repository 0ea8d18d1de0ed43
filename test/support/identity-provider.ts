import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';

export const ISSUER = 'https://id.example.test/';
export const AUDIENCE = 'member-roles-test';

interface SigningKey {
  kid: string;
  alg: 'RS256' | 'ES256' | 'EdDSA';
  privateKey: CryptoKey;
  publicJwk: JWK;
}

/**
 * A local identity provider for tests: it publishes a JWKS on 127.0.0.1 and signs access tokens
 * with its keys. Keys can be rotated (a new `kid` published) while the service runs.
 */
export class TestIdentityProvider {
  private keys: SigningKey[] = [];
  private server: Server | undefined;
  private readonly name = `idp${Math.floor(Math.random() * 1e9)}`;
  /** How many times the key set was fetched. */
  fetches = 0;
  url = '';

  async start(): Promise<this> {
    await this.addKey('RS256');
    this.server = createServer((req, res) => {
      this.fetches += 1;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: this.keys.map((key) => key.publicJwk) }));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/jwks.json`;
    return this;
  }

  async stop() {
    await new Promise((resolve) => this.server?.close(resolve));
  }

  /** Publishes a new key (rotation); the newest key signs from now on. */
  async addKey(alg: SigningKey['alg'] = 'RS256'): Promise<SigningKey> {
    const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
    const kid = `${this.name}-${this.keys.length + 1}-${alg}`;
    const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
    const key = { kid, alg, privateKey, publicJwk };
    this.keys.push(key);
    return key;
  }

  get current(): SigningKey {
    return this.keys.at(-1)!;
  }

  /** A token for `sub`, valid for a minute unless overridden. */
  async token(
    sub: string,
    options: {
      key?: SigningKey;
      issuer?: string;
      audience?: string;
      expiresIn?: string | number;
      notBefore?: string | number;
      kid?: string;
    } = {},
  ): Promise<string> {
    const key = options.key ?? this.current;
    const jwt = new SignJWT({})
      .setProtectedHeader({ alg: key.alg, kid: options.kid ?? key.kid })
      .setSubject(sub)
      .setIssuer(options.issuer ?? ISSUER)
      .setAudience(options.audience ?? AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(options.expiresIn ?? '1m');
    if (options.notBefore !== undefined) jwt.setNotBefore(options.notBefore);
    return jwt.sign(key.privateKey);
  }
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** An unsigned token (`alg: none`) for `sub`. */
export function unsignedToken(sub: string, kid: string): string {
  const now = Math.floor(Date.now() / 1000);
  return `${b64({ alg: 'none', kid })}.${b64({ sub, iss: ISSUER, aud: AUDIENCE, iat: now, exp: now + 60 })}.`;
}
