import type { Response } from 'express';
import type { RequestContext } from '../domain/context.js';
import { JsonText } from '../domain/json-text.js';
import type { ServiceRequest } from './service-request.js';

/** What an operation answers: status, body, headers and (for non-JSON bodies) a content type. */
export interface Answer {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
  contentType?: string;
}

/** An operation as the request path calls it; stages wrap it (see idempotency). */
export type Invoke = (req: ServiceRequest, ctx: RequestContext) => Promise<Answer>;

/**
 * Sends an answer. A JSON body with fields given as JSON text (a page the database wrote) is
 * written around them as they are, unless `asValues`: then it goes out as values, through
 * `res.json`, where the contract's response validator (tests) checks what it stands for.
 */
export function send(res: Response, answer: Answer, asValues = false) {
  if (answer.headers) res.set(answer.headers);
  res.status(answer.status);
  if (answer.status === 204) res.end();
  else if (answer.contentType && !answer.contentType.startsWith('application/json')) {
    if (typeof answer.body === 'string') res.type(answer.contentType).send(answer.body);
    else res.type(answer.contentType).json(answer.body);
  } else if (!hasJsonText(answer.body)) res.json(answer.body);
  else if (asValues) res.json(valuesOf(answer.body));
  else res.type('application/json').send(jsonWithText(answer.body));
}

function hasJsonText(body: unknown): body is Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return false;
  for (const key in body)
    if ((body as Record<string, unknown>)[key] instanceof JsonText) return true;
  return false;
}

/** `JSON.stringify(body)`, with each field that is JSON text written as that text. */
function jsonWithText(body: Record<string, unknown>): string {
  const fields: string[] = [];
  for (const [key, value] of Object.entries(body)) {
    if (value === undefined) continue;
    const text = value instanceof JsonText ? value.text : JSON.stringify(value);
    fields.push(`${JSON.stringify(key)}:${text}`);
  }
  return `{${fields.join(',')}}`;
}

function valuesOf(body: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(body).map(([key, value]) => [
      key,
      value instanceof JsonText ? (value.toJSON() as unknown) : value,
    ]),
  );
}
