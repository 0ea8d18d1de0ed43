import { createHash, randomBytes } from 'node:crypto';

/** A new API key secret: `mrk_` and 32 random bytes, base64url (43 characters). */
export function newSecret(): string {
  return `mrk_${randomBytes(32).toString('base64url')}`;
}

/** Secrets are stored only as this hash; they carry 256 random bits, so a plain SHA-256 suffices. */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** What a list shows of a key: enough to recognise it, not to use it. */
export function secretPrefix(secret: string): string {
  return secret.slice(0, 8);
}
