import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';

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

/**
 * Seals a stored answer with a key derived from the API key secret that asked for it, so the
 * database alone cannot read it (an idempotent replay of a key-creating POST holds a secret).
 */
export function seal(value: unknown, secret: string): { sealed: string } {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', sealingKey(secret), iv);
  const data = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
  return { sealed: Buffer.concat([iv, cipher.getAuthTag(), data]).toString('base64') };
}

/** Opens what `seal` made with the same secret; undefined when the secret differs or it was altered. */
export function unseal(stored: unknown, secret: string): { value: unknown } | undefined {
  const sealed = (stored as { sealed?: unknown } | null)?.sealed;
  if (typeof sealed !== 'string') return undefined;
  const bytes = Buffer.from(sealed, 'base64');
  try {
    const decipher = createDecipheriv('aes-256-gcm', sealingKey(secret), bytes.subarray(0, 12));
    decipher.setAuthTag(bytes.subarray(12, 28));
    const text = Buffer.concat([decipher.update(bytes.subarray(28)), decipher.final()]).toString(
      'utf8',
    );
    return { value: JSON.parse(text) as unknown };
  } catch {
    return undefined;
  }
}

function sealingKey(secret: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, 'member-roles', 'idempotent answers', 32));
}

/** A new invitation token: `mri_` and 32 random bytes, base64url (43 characters). */
export function newToken(): string {
  return `mri_${randomBytes(32).toString('base64url')}`;
}
