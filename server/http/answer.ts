import type { Response } from 'express';
import type { RequestContext } from '../domain/context.js';
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

export function send(res: Response, answer: Answer) {
  if (answer.headers) res.set(answer.headers);
  res.status(answer.status);
  if (answer.status === 204) res.end();
  else if (answer.contentType && !answer.contentType.startsWith('application/json')) {
    if (typeof answer.body === 'string') res.type(answer.contentType).send(answer.body);
    else res.type(answer.contentType).json(answer.body);
  } else res.json(answer.body);
}
