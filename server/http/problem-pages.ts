import { ERROR_STATUS, type ErrorCode } from '../errors.js';
import { problemTitle, problemType } from './problem.js';

const escape = (text: string) =>
  text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );
/** The catalogue's cells are Markdown with `code` spans only. */
const inline = (markdown: string) =>
  escape(markdown).replace(/`([^`]+)`/g, (_, code: string) => `<code>${code}</code>`);

/**
 * The meaning of each code, from the table in the description of the contract's `ErrorCode`
 * schema (`| status | code | meaning |`): one source for the reference and these pages.
 */
function catalogue(document: object): Map<string, string> {
  const schemas = (document as { components?: { schemas?: Record<string, unknown> } }).components
    ?.schemas;
  const description = (schemas?.ErrorCode as { description?: string } | undefined)?.description;
  const meanings = new Map<string, string>();
  for (const line of (description ?? '').split('\n')) {
    const row = /^\|\s*\d{3}\s*\|\s*`([A-Z_]+)`\s*\|(.*)\|\s*$/.exec(line);
    if (row) meanings.set(row[1]!, row[2]!.trim());
  }
  return meanings;
}

function page(code: ErrorCode, meaning: string | undefined) {
  const title = `${code}: ${problemTitle(code)}`;
  return `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>${escape(title)}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40em;margin:2em auto;padding:0 1em}code{background:#f2f2f2;padding:0 .2em}</style>
</head>
<body>
<h1><code>${code}</code> ${escape(problemTitle(code))}</h1>
<p>HTTP status <strong>${ERROR_STATUS[code]}</strong>. Problem type <code>${escape(problemType(code))}</code>.</p>
<p>${meaning === undefined ? '' : `${inline(meaning[0]!.toUpperCase() + meaning.slice(1))}.`}</p>
<p>The answer's <code>detail</code> says what was wrong with this request, <code>errors</code> lists
each field a validation failure found, and <code>requestId</code> finds the request in the service's
logs. Branch on <code>code</code>, never on the text. All codes: the <code>ErrorCode</code> schema in
the <a href="/docs">API reference</a>.</p>
</body>
</html>
`;
}

/** The page of every problem type, by the last segment of its `type` URI (`validation-failed`). */
export function problemPages(document: object): Map<string, string> {
  const meanings = catalogue(document);
  return new Map(
    (Object.keys(ERROR_STATUS) as ErrorCode[]).map((code) => [
      problemType(code).slice('/problems/'.length),
      page(code, meanings.get(code)),
    ]),
  );
}
