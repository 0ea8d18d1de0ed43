/**
 * Text that cannot be stored or compared as given: a NUL (PostgreSQL refuses it), a UTF-16
 * surrogate without its partner (it would turn into U+FFFD), or U+FEFF (the embedded engine drops
 * it at the start of a string).
 */
const UNSTORABLE =
  // eslint-disable-next-line no-control-regex -- matching NUL is the point
  /\u0000|\uFEFF|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export const UNSTORABLE_MESSAGE = 'contains a NUL, a lone surrogate or U+FEFF';

export function isStorableText(text: string): boolean {
  return !UNSTORABLE.test(text);
}

/**
 * What an image URL must start with to be shown. PostgreSQL reads it too, and the same way (a
 * page of members is written by the database): keep it to what both dialects share.
 */
export const RENDERABLE_URL = /^https?:\/\/[^\s/?#]+/;

/**
 * A URL a client may render (an avatar): `https:` or `http:` only. The contract refuses any other
 * on the way in; one stored before that rule (`javascript:…`) is answered as `null`.
 */
export function renderableUrl(url: string | null): string | null {
  return url !== null && RENDERABLE_URL.test(url) ? url : null;
}
