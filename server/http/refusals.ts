/**
 * Rules the contract encodes in a schema (`not: {const: owner}`, `minProperties: 1`, a `pattern`)
 * are refused by the validator in its own words ("must NOT be valid"). A schema that carries an
 * `x-refusal` text names the rule instead: that text replaces the validator's message for errors
 * of that schema's own rule keywords, and becomes the problem's `detail`.
 */

/** The keywords whose failure is a rule a reader can be told, rather than a shape mistake. */
const RULE_KEYWORDS = ['not', 'pattern', 'minProperties', 'uniqueItems', 'const', 'enum'];

interface Refusal {
  keywords: Set<string>;
  text: string;
}

/** operationId → body pointer (`/roleId`, `/` for the body itself) → refusal. */
export type Refusals = Map<string, Map<string, Refusal>>;

type Node = Record<string, unknown>;
const isNode = (value: unknown): value is Node =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function resolve(doc: Node, value: unknown): Node | undefined {
  let current = value;
  for (let depth = 0; isNode(current) && typeof current.$ref === 'string'; depth++) {
    if (depth > 20 || !current.$ref.startsWith('#/')) return undefined;
    current = current.$ref
      .slice(2)
      .split('/')
      .map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'))
      .reduce<unknown>((node, key) => (isNode(node) ? node[key] : undefined), doc);
  }
  return isNode(current) ? current : undefined;
}

function collect(doc: Node, raw: unknown, pointer: string, into: Map<string, Refusal>, depth = 0) {
  const schema = resolve(doc, raw);
  if (!schema || depth > 8) return;
  const add = (text: unknown, keywords: string[]) => {
    if (typeof text === 'string' && keywords.length > 0 && !into.has(pointer)) {
      into.set(pointer, { keywords: new Set(keywords), text: text.trim() });
    }
  };
  add(
    schema['x-refusal'],
    RULE_KEYWORDS.filter((k) => k !== 'not' && k in schema),
  );
  const not = resolve(doc, schema.not);
  if (not) add(not['x-refusal'], ['not']);
  for (const key of ['allOf', 'anyOf', 'oneOf'] as const) {
    const list = schema[key];
    if (Array.isArray(list)) for (const s of list) collect(doc, s, pointer, into, depth + 1);
  }
  if (isNode(schema.properties)) {
    for (const [name, s] of Object.entries(schema.properties)) {
      collect(doc, s, `${pointer === '/' ? '' : pointer}/${name}`, into, depth + 1);
    }
  }
}

/** Every `x-refusal` of the request bodies of the contract, by operation. */
export function refusalsOf(document: object): Refusals {
  const doc = document as Node;
  const refusals: Refusals = new Map();
  for (const rawItem of Object.values(isNode(doc.paths) ? doc.paths : {})) {
    const item = resolve(doc, rawItem);
    for (const op of Object.values(item ?? {})) {
      if (!isNode(op) || typeof op.operationId !== 'string') continue;
      const body = resolve(doc, op.requestBody);
      const content = isNode(body?.content) ? body.content : {};
      const media = resolve(doc, content['application/json']);
      const found = new Map<string, Refusal>();
      collect(doc, media?.schema, '/', found);
      if (found.size > 0) refusals.set(op.operationId, found);
    }
  }
  return refusals;
}

/** The refusal text for a body error at `path` (a pointer) failing `keyword`, if the contract names one. */
export function refusalFor(
  refusals: Refusals,
  operationId: string | undefined,
  path: string,
  keyword: string | undefined,
): string | undefined {
  if (operationId === undefined || keyword === undefined) return undefined;
  const refusal = refusals.get(operationId)?.get(path);
  return refusal?.keywords.has(keyword) ? refusal.text : undefined;
}
