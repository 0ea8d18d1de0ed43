import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root: the nearest folder above this file holding `generated/` (source or built). */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'generated', 'openapi.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('generated/openapi.json not found: run `npm run generate`');
    dir = parent;
  }
  return dir;
}

/** The bundled contract and its Redoc page, as `npm run generate` wrote them. */
export function loadDocuments(): { json: object; yaml: string; docsHtml: string } {
  const generated = join(packageRoot(), 'generated');
  return {
    json: JSON.parse(readFileSync(join(generated, 'openapi.json'), 'utf8')) as object,
    yaml: readFileSync(join(generated, 'openapi.yaml'), 'utf8'),
    docsHtml: readFileSync(join(generated, 'docs', 'index.html'), 'utf8'),
  };
}
