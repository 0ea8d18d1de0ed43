// Spec-driven request generation for test/fuzz.test.ts: reads the bundled contract
// (generated/openapi.json), builds fast-check arbitraries of schema-valid and schema-invalid
// requests for each operation, and checks answers against the document with Ajv (2020-12).
import { readFileSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsImport from 'ajv-formats';
import fc from 'fast-check';

// ajv-formats is CommonJS with `exports.default`; under Jest's ESM interop the default import may
// be the module object.
const addFormats = ((addFormatsImport as unknown as { default?: unknown }).default ??
  addFormatsImport) as unknown as (ajv: Ajv2020) => void;

// The document is untyped JSON, walked generically.
/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-call */
export type Schema = Record<string, any>;
type Doc = Record<string, any>;

export const document: Doc = JSON.parse(
  readFileSync(new URL('../../generated/openapi.json', import.meta.url), 'utf8'),
);

const DOC_ID = 'openapi.json';
const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true });
addFormats(ajv);
ajv.addSchema(document, DOC_ID);

const escapePointer = (s: string) => s.replaceAll('~', '~0').replaceAll('/', '~1');
const validators = new Map<string, ValidateFunction>();

/** A validator for the schema at `pointer` (a JSON pointer into the bundled document). */
export function validatorAt(pointer: string): ValidateFunction {
  let v = validators.get(pointer);
  if (!v) {
    v = ajv.compile({ $ref: `${DOC_ID}#${pointer}` });
    validators.set(pointer, v);
  }
  return v;
}

const inlineValidators = new Map<string, ValidateFunction>();
function inline(schema: Schema): ValidateFunction {
  const key = JSON.stringify(schema);
  let v = inlineValidators.get(key);
  if (!v) {
    v = ajv.compile(schema);
    inlineValidators.set(key, v);
  }
  return v;
}

function at(pointer: string): any {
  let node: any = document;
  for (const raw of pointer.split('/').slice(1)) {
    node = node[raw.replaceAll('~1', '/').replaceAll('~0', '~')];
  }
  return node;
}

/** Follows `$ref`s to the object they name, keeping the pointer of where it really lives. */
function deref(node: any, pointer: string): { node: any; pointer: string } {
  while (node && typeof node.$ref === 'string' && Object.keys(node).length === 1) {
    pointer = node.$ref.slice(1);
    node = at(pointer);
  }
  return { node, pointer };
}

// ---------------------------------------------------------------------------------------------
// Operations

export interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header';
  required: boolean;
  schema: Schema;
  pointer: string;
}

export interface Operation {
  id: string;
  method: string;
  path: string;
  parameters: Parameter[];
  body?: { required: boolean; schema: Schema; pointer: string };
  /** status → media type → pointer of the schema (undefined: no schema; {} content: no body). */
  responses: Record<string, Record<string, string | undefined>>;
}

const METHODS = ['get', 'put', 'post', 'delete', 'patch'];

export function operations(): Operation[] {
  const ops: Operation[] = [];
  for (const [path, item] of Object.entries<any>(document.paths)) {
    const itemPointer = `/paths/${escapePointer(path)}`;
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const opPointer = `${itemPointer}/${method}`;
      const byKey = new Map<string, Parameter>();
      const add = (list: any[] | undefined, base: string) =>
        (list ?? []).forEach((raw, i) => {
          const { node, pointer } = deref(raw, `${base}/parameters/${i}`);
          byKey.set(`${node.in}:${node.name}`, {
            name: node.name,
            in: node.in,
            required: node.required === true,
            schema: node.schema,
            pointer: `${pointer}/schema`,
          });
        });
      add(item.parameters, itemPointer);
      add(op.parameters, opPointer);
      let body: Operation['body'];
      if (op.requestBody) {
        const { node, pointer } = deref(op.requestBody, `${opPointer}/requestBody`);
        body = {
          required: node.required === true,
          schema: node.content['application/json'].schema,
          pointer: `${pointer}/content/application~1json/schema`,
        };
      }
      const responses: Operation['responses'] = {};
      for (const [status, raw] of Object.entries<any>(op.responses)) {
        const { node, pointer } = deref(raw, `${opPointer}/responses/${status}`);
        const byType: Record<string, string | undefined> = (responses[status] = {});
        for (const [type, media] of Object.entries<any>(node.content ?? {})) {
          byType[type] = media.schema
            ? `${pointer}/content/${escapePointer(type)}/schema`
            : undefined;
        }
      }
      ops.push({
        id: op.operationId,
        method: method.toUpperCase(),
        path,
        parameters: [...byKey.values()],
        body,
        responses,
      });
    }
  }
  return ops;
}

// ---------------------------------------------------------------------------------------------
// Values

/** Real ids to mix into generated ones, per schema name (`#/components/schemas/<name>`). */
export type Hints = Record<string, fc.Arbitrary<unknown>>;

const codePoints = (s: string) => [...s].length;
const anyString = (minLength: number, maxLength: number) =>
  fc.oneof(
    { arbitrary: fc.string({ minLength, maxLength, unit: 'grapheme-ascii' }), weight: 3 },
    { arbitrary: fc.string({ minLength, maxLength, unit: 'grapheme' }), weight: 2 },
    { arbitrary: fc.string({ minLength, maxLength, unit: 'binary' }), weight: 1 },
    // Text that is valid JSON Schema but awkward to store, compare or print.
    {
      arbitrary: fc.constantFrom(
        '\u0000',
        'a\u0000b',
        '\uD800',
        'x\uDFFFy',
        '\u202Eevil',
        '\uFEFF',
        '%',
        '%00',
        '\\',
        '"',
        '_%',
        "'; drop table members; --",
      ),
      weight: 1,
    },
  );
/** Strings of exactly n code points, some of them outside the BMP (2 UTF-16 units each). */
const exactly = (n: number) =>
  fc.constantFrom('a', 'é', '😀', '\u{10FFFF}', '漢').map((c) => c.repeat(n));

const dateTime = fc
  .tuple(
    fc.date({
      min: new Date('0001-01-01T00:00:00Z'),
      max: new Date('9999-12-31T23:59:59Z'),
      noInvalidDate: true,
    }),
    fc.constantFrom('Z', 'Z', 'Z', '+00:00', '-05:30', '+14:00', 'z'),
    fc.constantFrom('', '', '.5', '.123', '.123456789'),
    fc.constantFrom('T', 'T', 'T', 't'),
  )
  .map(([d, zone, fraction, t]) => {
    const iso = d.toISOString(); // YYYY-MM-DDTHH:mm:ss.sssZ
    return `${iso.slice(0, 10)}${t}${iso.slice(11, 19)}${fraction}${zone}`;
  });
const dateTimeEdges = fc.constantFrom(
  '1970-01-01T00:00:00Z',
  '0000-01-01T00:00:00Z',
  '9999-12-31T23:59:59.999999999Z',
  '2016-12-31T23:59:60Z',
  '2024-02-29T12:00:00+23:59',
);

/**
 * Follows a schema's `$ref`s (keeping sibling keywords) and a lone `allOf`; `name` is the first
 * `#/components/schemas/<name>` met, for the hints.
 */
function resolveSchema(schema: Schema): { schema: Schema; name?: string } {
  let name: string | undefined;
  let s = schema;
  while (s.$ref) {
    const ref: string = s.$ref;
    const { $ref: _ignored, ...siblings } = s;
    if (ref.startsWith('#/components/schemas/')) name ??= ref.slice('#/components/schemas/'.length);
    s = { ...at(ref.slice(1)), ...siblings };
  }
  if (Array.isArray(s.allOf) && s.allOf.length === 1) {
    const { allOf, ...rest } = s;
    const inner = resolveSchema(allOf[0]);
    return { schema: { ...inner.schema, ...rest }, name: name ?? inner.name };
  }
  return { schema: s, name };
}

export class Generator {
  constructor(private readonly hints: Hints) {}

  /** Values that validate against `schema`. */
  valid(schema: Schema, depth = 0): fc.Arbitrary<unknown> {
    const { schema: s, name } = resolveSchema(schema);
    let arb = this.validBase(s, depth);
    const hint = name ? this.hints[name] : undefined;
    if (hint) arb = fc.oneof({ arbitrary: hint, weight: 5 }, { arbitrary: arb, weight: 1 });
    if (s.not) {
      const not = inline(s.not);
      arb = arb.filter((v) => !not(v));
    }
    return arb;
  }

  private validBase(s: Schema, depth: number): fc.Arbitrary<unknown> {
    if ('const' in s) return fc.constant(s.const);
    if (Array.isArray(s.enum)) return fc.constantFrom(...s.enum);
    if (Array.isArray(s.oneOf) || Array.isArray(s.anyOf)) {
      return fc.oneof(...(s.oneOf ?? s.anyOf).map((b: Schema) => this.valid(b, depth)));
    }
    if (Array.isArray(s.type)) {
      return fc.oneof(...s.type.map((t: string) => this.validBase({ ...s, type: t }, depth)));
    }
    switch (s.type) {
      case 'null':
        return fc.constant(null);
      case 'boolean':
        return fc.boolean();
      case 'integer':
        return fc.oneof(
          fc.integer({ min: s.minimum ?? -1_000_000, max: s.maximum ?? 1_000_000 }),
          fc.constantFrom(...[s.minimum, s.maximum].filter((x) => x !== undefined)),
        );
      case 'number':
        return fc.double({ min: s.minimum ?? -1e9, max: s.maximum ?? 1e9, noNaN: true });
      case 'string':
        return this.validString(s);
      case 'array': {
        const items = this.valid(s.items ?? {}, depth + 1);
        const bounds = {
          minLength: s.minItems ?? 0,
          maxLength: Math.min(s.maxItems ?? 4, 4 + (s.minItems ?? 0)),
        };
        return s.uniqueItems
          ? fc.uniqueArray(items, { ...bounds, selector: (v) => JSON.stringify(v) })
          : fc.array(items, bounds);
      }
      case 'object':
      case undefined: {
        if (!s.properties)
          return depth > 2
            ? fc.constant({})
            : fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue({ maxDepth: 1 }), {
                maxKeys: 3,
              });
        const model = Object.fromEntries(
          Object.entries<Schema>(s.properties).map(([k, v]) => [k, this.valid(v, depth + 1)]),
        );
        const arb = fc.record(model, { requiredKeys: s.required ?? [] });
        return s.minProperties ? arb.filter((o) => Object.keys(o).length >= s.minProperties) : arb;
      }
      default:
        return fc.jsonValue();
    }
  }

  private validString(s: Schema): fc.Arbitrary<string> {
    const min = s.minLength ?? 0;
    const max = s.maxLength ?? 300;
    const check = inline({
      type: 'string',
      ...pick(s, ['format', 'pattern', 'minLength', 'maxLength']),
    });
    let arb: fc.Arbitrary<string>;
    if (s.format === 'email') {
      arb = fc.oneof(
        fc.emailAddress(),
        fc.constantFrom('a@b.co', "O'Brien+tag@example.test", 'x@münchen.de'),
      );
    } else if (s.format === 'date-time') {
      arb = fc.oneof({ arbitrary: dateTime, weight: 2 }, { arbitrary: dateTimeEdges, weight: 1 });
    } else if (s.format === 'uri') {
      arb = fc.oneof(
        fc.webUrl({ withQueryParameters: true, withFragments: true }),
        fc.constantFrom('urn:isbn:0451450523', 'mailto:a@b.co', 'https://example.test/a%20b?x=1#y'),
      );
    } else if (s.pattern) {
      arb = fc.stringMatching(new RegExp(s.pattern));
    } else {
      arb = fc.oneof(
        { arbitrary: anyString(min, Math.min(max, 40)), weight: 6 },
        { arbitrary: exactly(max), weight: 1 },
        { arbitrary: exactly(Math.max(min, 1)), weight: 1 },
      );
    }
    return arb.filter((v) => codePoints(v) >= min && codePoints(v) <= max && check(v));
  }

  /** Values that do NOT validate against `schema` (a candidate, to be checked by the caller). */
  invalid(schema: Schema, depth = 0): fc.Arbitrary<unknown> {
    const { schema: s } = resolveSchema(schema);
    const types: string[] = Array.isArray(s.type) ? s.type : s.type ? [s.type] : [];
    const wrongType = fc
      .constantFrom<unknown>(0, -1, 1.5, true, 'x', null, [], [1], {}, { a: 1 })
      .filter((v) => {
        const t =
          v === null
            ? 'null'
            : Array.isArray(v)
              ? 'array'
              : typeof v === 'number'
                ? Number.isInteger(v)
                  ? 'integer'
                  : 'number'
                : typeof v;
        return (
          types.length > 0 && !types.includes(t) && !(t === 'integer' && types.includes('number'))
        );
      });
    // Weighted: the subtle violations (formats, patterns, a bad property deep inside) are where a
    // validator and the code behind it disagree, so they come up more often than a wrong type.
    const options: fc.WeightedArbitrary<unknown>[] = [];
    const add = (arbitrary: fc.Arbitrary<unknown>, weight = 1) =>
      options.push({ arbitrary, weight });
    if (types.length > 0) add(wrongType);
    if (s.not && 'const' in s.not) add(fc.constant(s.not.const), 2);
    if (Array.isArray(s.enum)) {
      add(
        fc
          .oneof(
            fc.constantFrom(
              ...s.enum
                .filter((e: unknown) => typeof e === 'string')
                .map((e: string) => e.toUpperCase()),
              '',
              'unknown',
            ),
            fc.string({ maxLength: 10 }),
          )
          .filter((v) => !s.enum.includes(v)),
        2,
      );
    }
    if (types.includes('string')) {
      const max = s.maxLength;
      if (max !== undefined)
        add(fc.integer({ min: 1, max: 20 }).chain((extra) => exactly(max + extra)));
      if (s.minLength) add(fc.constant(''));
      if (s.pattern) {
        const re = new RegExp(s.pattern, 'u');
        add(
          fc
            .oneof(
              fc.constantFrom(' ', 'a b', '/', '%', '?', '#', 'é', 'ORG_X', 'role_x', '..'),
              fc.string({ minLength: 1, maxLength: 30, unit: 'grapheme' }),
            )
            .filter((v) => !re.test(v)),
          2,
        );
      }
      if (s.format === 'email')
        add(
          fc.constantFrom(
            'not-an-email',
            'a@',
            '@b.co',
            'a b@c.d',
            'a@b',
            'a..b@example.test',
            '.a@example.test',
            'a@-b.test',
          ),
          3,
        );
      if (s.format === 'date-time')
        add(
          fc.constantFrom(
            'yesterday',
            '2026-13-01T00:00:00Z',
            '2026-02-30T00:00:00Z',
            '2026-00-10T00:00:00Z',
            '2026-01-01',
            '2026-01-01T25:00:00Z',
            '2026-01-01T23:59:60+01:00',
            '1700000000',
          ),
          3,
        );
      if (s.format === 'uri')
        add(
          fc.constantFrom(
            'not a uri',
            '//no-scheme',
            'http://exa mple.com',
            'a:',
            'http://[::1',
            'https://example.test/%zz',
            'relative/path',
          ),
          3,
        );
    }
    if (types.includes('integer') || types.includes('number')) {
      if (s.minimum !== undefined) add(fc.integer({ min: s.minimum - 1000, max: s.minimum - 1 }));
      if (s.maximum !== undefined) add(fc.integer({ min: s.maximum + 1, max: s.maximum + 1000 }));
      if (types.includes('integer')) add(fc.constantFrom(1.5, 2.25));
    }
    if (types.includes('array')) {
      const item = this.valid(s.items ?? {}, depth + 1);
      if (s.uniqueItems) add(item.map((v) => [v, v]));
      if (s.maxItems !== undefined)
        add(fc.array(item, { minLength: s.maxItems + 1, maxLength: s.maxItems + 3 }));
      if (s.items && depth < 3)
        add(fc.array(this.invalid(s.items, depth + 1), { minLength: 1, maxLength: 2 }));
    }
    if (types.includes('object') && s.properties) {
      const valid = this.validBase(s, depth) as fc.Arbitrary<Record<string, unknown>>;
      const known = Object.keys(s.properties);
      if (s.additionalProperties === false) {
        add(
          fc
            .tuple(
              valid,
              fc.oneof(
                fc.constantFrom('isOwner', 'id', 'role', '__proto__', 'constructor', 'extra'),
                fc.string({ minLength: 1, maxLength: 8 }),
              ),
              fc.jsonValue({ maxDepth: 1 }),
            )
            .filter(([, k]) => !known.includes(k))
            .map(([o, k, v]) => {
              const copy: Record<string, unknown> = { ...o };
              Object.defineProperty(copy, k, {
                value: v,
                enumerable: true,
                writable: true,
                configurable: true,
              });
              return copy;
            }),
        );
      }
      const required: string[] = s.required ?? [];
      if (required.length > 0) {
        add(
          fc.tuple(valid, fc.constantFrom(...required)).map(([o, k]) => {
            const copy = { ...o };
            delete copy[k];
            return copy;
          }),
        );
      }
      if (s.minProperties) add(fc.constant({}));
      if (depth < 3) {
        add(
          fc
            .constantFrom(...known)
            .chain((k) =>
              fc
                .tuple(valid, this.invalid(s.properties[k], depth + 1))
                .map(([o, bad]) => ({ ...o, [k]: bad })),
            ),
          3,
        );
      }
    }
    if (options.length === 0) add(fc.constant(Symbol('no invalid value')));
    return fc.oneof(...options);
  }
}

function pick(o: Schema, keys: string[]): Schema {
  return Object.fromEntries(keys.filter((k) => o[k] !== undefined).map((k) => [k, o[k]]));
}

// ---------------------------------------------------------------------------------------------
// Requests

export interface FuzzRequest {
  method: string;
  /** Path with its parameters percent-encoded, and the query string. */
  url: string;
  headers: Record<string, string>;
  body?: string;
  /** What was made invalid (empty for a valid request). */
  mutation: string;
}

const isValid = (pointer: string, value: unknown) => validatorAt(pointer)(value);

/**
 * Percent-encodes everything but RFC 3986's unreserved characters, as OpenAPI's default
 * `allowReserved: false` asks of query values (and as path segments may be): unlike
 * encodeURIComponent, also `!'()*`. Used for path parameters and query names and values.
 */
export function encodeQuery(text: string): string {
  let out = '';
  for (const char of text) {
    if (/^[A-Za-z0-9\-._~]$/.test(char)) {
      out += char;
      continue;
    }
    const code = char.codePointAt(0)!;
    // A lone surrogate has no UTF-8 form: its generalized (WTF-8) bytes are sent, which no
    // decoder accepts, as a careless client would.
    const bytes =
      code >= 0xd800 && code <= 0xdfff
        ? [0xe0 | (code >> 12), 0x80 | ((code >> 6) & 0x3f), 0x80 | (code & 0x3f)]
        : [...Buffer.from(char, 'utf8')];
    out += bytes.map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join('');
  }
  return out;
}

function encodeQueryValue(value: unknown): string {
  return encodeQuery(typeof value === 'string' ? value : JSON.stringify(value));
}

function fillPath(template: string, values: Record<string, string>): string {
  return template.replace(/\{(\w+)\}/g, (_m, name: string) => encodeQuery(values[name]!));
}

interface Parts {
  path: Record<string, string>;
  query: [string, string][];
  headers: Record<string, string>;
  body?: { text: string; contentType?: string };
}

const build = (op: Operation, parts: Parts, mutation: string): FuzzRequest => {
  const query = parts.query.map(([k, v]) => `${encodeQuery(k)}=${v}`).join('&');
  const headers = { ...parts.headers };
  if (parts.body?.contentType) headers['content-type'] = parts.body.contentType;
  return {
    method: op.method,
    url: fillPath(op.path, parts.path) + (query ? `?${query}` : ''),
    headers,
    ...(parts.body ? { body: parts.body.text } : {}),
    mutation,
  };
};

/** Headers are sent as HTTP allows: printable ASCII without leading or trailing spaces. */
const headerSafe = (v: string) => /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/.test(v);

export class RequestFactory {
  private readonly gen: Generator;

  constructor(
    hints: Hints,
    private readonly extras: {
      ifMatch: fc.Arbitrary<string>;
      idempotencyKey: fc.Arbitrary<string>;
      /** Valid values of some query parameters, by name, instead of the schema's. */
      query?: Record<string, fc.Arbitrary<unknown>>;
    },
  ) {
    this.gen = new Generator(hints);
  }

  private validParam(p: Parameter): fc.Arbitrary<unknown> {
    if (p.in === 'header' && p.name === 'If-Match') return this.extras.ifMatch;
    if (p.in === 'header' && p.name === 'Idempotency-Key') return this.extras.idempotencyKey;
    const given = p.in === 'query' ? this.extras.query?.[p.name] : undefined;
    if (given) return given;
    let arb = this.gen.valid(p.schema);
    if (p.in === 'header') arb = arb.filter((v) => typeof v === 'string' && headerSafe(v));
    if (p.in === 'path') arb = arb.filter((v) => v !== ''); // an empty segment is another path
    return arb.filter((v) => isValid(p.pointer, v));
  }

  private validParts(op: Operation): fc.Arbitrary<Parts> {
    const path = fc.record(
      Object.fromEntries(
        op.parameters
          .filter((p) => p.in === 'path')
          .map((p) => [p.name, this.validParam(p) as fc.Arbitrary<string>]),
      ),
    );
    const optional = (p: Parameter) =>
      p.required ? this.validParam(p) : fc.option(this.validParam(p), { nil: undefined, freq: 2 });
    const query = fc.tuple(
      ...op.parameters
        .filter((p) => p.in === 'query')
        .map((p) => optional(p).map((v) => [p.name, v] as const)),
    );
    const headers = fc.tuple(
      ...op.parameters
        .filter((p) => p.in === 'header')
        .map((p) => optional(p).map((v) => [p.name, v] as const)),
    );
    const body = op.body
      ? this.gen
          .valid(op.body.schema)
          .filter((v) => isValid(op.body!.pointer, v))
          .map((v) => ({ text: JSON.stringify(v), contentType: 'application/json' }))
      : fc.constant(undefined);
    return fc.record({ path, query, headers, body }).map(({ path, query, headers, body }) => ({
      path,
      query: query
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => [k, encodeQueryValue(v)] as [string, string]),
      headers: Object.fromEntries(headers.filter(([, v]) => v !== undefined)) as Record<
        string,
        string
      >,
      ...(body ? { body } : {}),
    }));
  }

  valid(op: Operation): fc.Arbitrary<FuzzRequest> {
    return this.validParts(op).map((parts) => build(op, parts, ''));
  }

  /** A valid request with exactly one thing made invalid. */
  invalid(op: Operation): fc.Arbitrary<FuzzRequest> {
    const mutations: fc.Arbitrary<(parts: Parts) => [Parts, string]>[] = [];
    const known = new Set(op.parameters.filter((p) => p.in === 'query').map((p) => p.name));
    // An unknown query parameter: every operation refuses those.
    mutations.push(
      fc
        .tuple(
          fc.oneof(
            fc.constantFrom('sort', 'page', 'offset', 'orgId', 'LIMIT', 'role[]', 'q '),
            fc.stringMatching(/^[a-zA-Z_]{1,12}$/),
          ),
          fc.string({ maxLength: 10 }),
        )
        .filter(([k]) => !known.has(k))
        .map(([k, v]) => (parts: Parts) => [
          { ...parts, query: [...parts.query, [k, encodeQuery(v)]] },
          `unknown query parameter ${k}`,
        ]),
    );
    for (const p of op.parameters) {
      const bad = this.gen.invalid(p.schema).filter((v) => typeof v !== 'symbol');
      if (p.in === 'path') {
        mutations.push(
          bad
            .map((v) => (typeof v === 'string' ? v : JSON.stringify(v)))
            .filter((v) => v !== '' && !isValid(p.pointer, v))
            .map((v) => (parts: Parts) => [
              { ...parts, path: { ...parts.path, [p.name]: v } },
              `path ${p.name}`,
            ]),
        );
      } else if (p.in === 'query') {
        // Query values arrive as strings: a value is invalid if no coercion makes it valid.
        const candidates = fc.oneof(
          bad.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))),
          fc.constantFrom('', 'abc', '-1', '0', '101', '1e3', '1.5'),
        );
        mutations.push(
          candidates
            .filter((v) => !queryValueValid(p, v))
            .map((v) => (parts: Parts) => [
              {
                ...parts,
                query: [...parts.query.filter(([k]) => k !== p.name), [p.name, encodeQuery(v)]],
              },
              `query ${p.name}`,
            ]),
        );
        // The same parameter twice (arrives as an array).
        mutations.push(
          fc.tuple(this.validParam(p), this.validParam(p)).map(([a, b]) => (parts: Parts) => [
            {
              ...parts,
              query: [
                ...parts.query.filter(([k]) => k !== p.name),
                [p.name, encodeQueryValue(a)],
                [p.name, encodeQueryValue(b)],
              ],
            },
            `query ${p.name} repeated`,
          ]),
        );
      } else if (p.in === 'header') {
        const candidates = fc.oneof(
          bad.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))),
          fc.constantFrom('', 'has space', 'slash/es', '{"a":1}', 'x'.repeat(256)),
        );
        mutations.push(
          candidates
            .filter((v) => (v === '' || headerSafe(v)) && !isValid(p.pointer, v))
            .map((v) => (parts: Parts) => [
              { ...parts, headers: { ...parts.headers, [p.name]: v } },
              `header ${p.name}`,
            ]),
        );
      }
    }
    if (op.body) {
      const body = op.body;
      const schemaInvalid = this.gen
        .invalid(body.schema)
        .filter((v) => typeof v !== 'symbol' && !isValid(body.pointer, v))
        .map((v) => (parts: Parts): [Parts, string] => [
          { ...parts, body: { text: JSON.stringify(v), contentType: 'application/json' } },
          'body schema',
        ]);
      // The body has the most to get wrong: it gets four shares.
      mutations.push(
        schemaInvalid,
        schemaInvalid,
        schemaInvalid,
        schemaInvalid,
        fc
          .constantFrom('{', '{"a":', '[1,]', "{'a':1}", 'nul', '', '{"a":1}{', '\u0000')
          .map((text) => (parts: Parts) => [
            { ...parts, body: { text, contentType: 'application/json' } },
            'body not JSON',
          ]),
        fc
          .constantFrom(
            'text/plain',
            'application/x-www-form-urlencoded',
            'application/xml',
            'multipart/form-data; boundary=x',
            'application/json; charset=latin1',
          )
          .map((contentType) => (parts: Parts) => [
            { ...parts, body: { text: parts.body?.text ?? '{}', contentType } },
            `body as ${contentType}`,
          ]),
        fc.constant((parts: Parts) => {
          const { body: _dropped, ...rest } = parts;
          return [rest, 'body missing'] as [Parts, string];
        }),
      );
    }
    return fc.tuple(this.validParts(op), fc.oneof(...mutations)).map(([parts, mutate]) => {
      const [mutated, what] = mutate(parts);
      return build(op, mutated, what);
    });
  }
}

/** How the server's validator sees a query value: integers are coerced from their text. */
function queryValueValid(p: Parameter, text: string): boolean {
  const { schema } = resolveSchema(p.schema);
  if (schema.type === 'integer' && /^-?\d+$/.test(text)) return isValid(p.pointer, Number(text));
  if (schema.type === 'integer' && /^-?\d+(\.0+)?(e\d+)?$/i.test(text)) return true; // coercible: skip
  return isValid(p.pointer, text);
}

// ---------------------------------------------------------------------------------------------
// Sending and checking

const agent = new Agent({ keepAlive: true, maxSockets: 4 });

export interface FuzzResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

export function send(
  baseUrl: string,
  req: FuzzRequest,
  auth: Record<string, string>,
): Promise<FuzzResponse> {
  const base = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const r = httpRequest(
      {
        agent,
        host: base.hostname,
        port: base.port,
        method: req.method,
        path: req.url,
        headers: {
          ...auth,
          ...req.headers,
          ...(req.body !== undefined ? { 'content-length': Buffer.byteLength(req.body) } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    r.on('error', reject);
    if (req.body !== undefined) r.write(req.body);
    r.end();
  });
}

export function closeAgent() {
  agent.destroy();
}

/** The contract's promises about one answer; returns what is wrong (empty: nothing). */
export function contractViolations(op: Operation, req: FuzzRequest, res: FuzzResponse): string[] {
  const problems: string[] = [];
  if (res.status >= 500) problems.push(`answered ${res.status} (5xx)`);
  const documented = op.responses[String(res.status)];
  if (!documented) {
    problems.push(
      `answered ${res.status}, which ${op.id} does not document (${Object.keys(op.responses).join(', ')})`,
    );
    return problems;
  }
  if (req.mutation && res.status < 400)
    problems.push(`an invalid request (${req.mutation}) succeeded with ${res.status}`);
  const type = String(res.headers['content-type'] ?? '')
    .split(';')[0]!
    .trim()
    .toLowerCase();
  const types = Object.keys(documented);
  if (types.length === 0 || res.status === 204) {
    if (res.text.length > 0)
      problems.push(`answered ${res.status} with a body, which is not documented`);
    return problems;
  }
  if (!(type in documented)) {
    problems.push(`answered ${res.status} as "${type}", documented: ${types.join(', ')}`);
    return problems;
  }
  const pointer = documented[type];
  let body: unknown = res.text;
  if (type === 'application/json' || type.endsWith('+json')) {
    try {
      body = JSON.parse(res.text);
    } catch {
      problems.push(`the ${type} body is not JSON`);
      return problems;
    }
  }
  if (pointer) {
    const validate = validatorAt(pointer);
    if (!validate(body)) {
      problems.push(
        `the body does not match ${pointer}: ${ajv.errorsText(validate.errors, { separator: '; ' })}`,
      );
    }
  }
  if (type === 'application/problem+json') {
    const problem = body as { code?: unknown; status?: unknown };
    if (typeof problem?.code !== 'string') problems.push('the problem body has no code');
    if (problem?.status !== res.status)
      problems.push(`the problem body says status ${String(problem?.status)}`);
  }
  const sentId = req.headers['X-Request-Id'];
  if (
    sentId !== undefined &&
    /^[A-Za-z0-9._:-]{1,200}$/.test(sentId) &&
    res.headers['x-request-id'] !== sentId
  ) {
    problems.push(
      `X-Request-Id ${sentId} was not echoed (got ${String(res.headers['x-request-id'])})`,
    );
  }
  return problems;
}
