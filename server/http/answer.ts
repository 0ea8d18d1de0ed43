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

/** Sends an answer: its headers, its status, and its body (JSON through `sendJson`). */
export function send(res: Response, answer: Answer) {
  if (answer.headers) {
    for (const name in answer.headers) res.setHeader(name, answer.headers[name]!);
  }
  res.statusCode = answer.status;
  if (answer.status === 204) res.end();
  else if (answer.contentType && !answer.contentType.startsWith('application/json')) {
    if (typeof answer.body === 'string') res.type(answer.contentType).send(answer.body);
    else res.type(answer.contentType).json(answer.body);
  } else sendJson(res, answer.body);
}

/**
 * Sends a JSON body, the status set. One with fields given as JSON text (a page the database
 * wrote) is written around them as they are, unless answers are checked against the contract
 * (`writeJsonChecked` ran): then it goes out as values, through `res.json`, where the response
 * validator checks what it stands for before `writeJson` writes it.
 */
export function sendJson(res: Response, body: unknown) {
  if (answersChecked(res)) res.json(hasJsonText(body) ? valuesOf(body) : body);
  else if (hasJsonText(body)) writeJson(res, jsonParts(body));
  else writeJson(res, [JSON.stringify(body) ?? '']);
}

/** Above this many characters, an answer's text is written apart from its head (see `writeJson`). */
const LONG_TEXT = 4096;

/**
 * Writes JSON text, given in parts, as the answer, with the status already set: its type
 * (`application/json` unless one is set), its length, and the end. Express's `res.send` would
 * also copy the text into a buffer, and answer 304 to an `If-None-Match` naming the ETag, a status
 * no operation of the contract declares. Node joins a text written at once with the head into one
 * new string; a long text (a page) is written after the head instead, the parts sent together in
 * one write to the socket, so that no copy of it is made on the heap, where each copy would be
 * garbage to collect.
 */
function writeJson(res: Response, parts: readonly string[]) {
  if (!res.hasHeader('Content-Type')) {
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
  }
  let length = 0;
  let characters = 0;
  for (const part of parts) {
    length += Buffer.byteLength(part);
    characters += part.length;
  }
  res.setHeader('Content-Length', length);
  if (characters <= LONG_TEXT) {
    res.end(parts.length === 1 ? parts[0] : parts.join(''));
    return;
  }
  res.cork();
  res.flushHeaders();
  for (let i = 0; i < parts.length - 1; i++) res.write(parts[i]);
  res.end(parts[parts.length - 1]);
}

/**
 * Where answers are checked against the contract (outside production): `res.json` becomes
 * `writeJson`, so that the response validator, which wraps `res.json` after this stage, checks an
 * answer and then has it written as an unchecked one is.
 */
export function writeJsonChecked(_req: unknown, res: Response, next: () => void) {
  (res.locals as Checked).answersChecked = true;
  res.json = function json(this: Response, body: unknown) {
    writeJson(this, [JSON.stringify(body) ?? '']);
    return this;
  };
  next();
}

interface Checked {
  answersChecked?: boolean;
}

/** Whether this response's answers are checked against the contract (`writeJsonChecked` ran). */
const answersChecked = (res: Response): boolean => (res.locals as Checked).answersChecked === true;

function hasJsonText(body: unknown): body is Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return false;
  for (const key in body)
    if ((body as Record<string, unknown>)[key] instanceof JsonText) return true;
  return false;
}

/**
 * `JSON.stringify(body)` in parts: each field that is JSON text is a part of its own, written as
 * that text, between parts holding the rest.
 */
function jsonParts(body: Record<string, unknown>): string[] {
  const parts: string[] = [];
  let text = '{';
  let separator = '';
  for (const [key, value] of Object.entries(body)) {
    if (value === undefined) continue;
    text += `${separator}${JSON.stringify(key)}:`;
    separator = ',';
    if (value instanceof JsonText) {
      parts.push(text, value.text);
      text = '';
    } else text += JSON.stringify(value);
  }
  parts.push(`${text}}`);
  return parts;
}

function valuesOf(body: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(body).map(([key, value]) => [
      key,
      value instanceof JsonText ? (value.toJSON() as unknown) : value,
    ]),
  );
}
