import type { Request } from 'express';
import type { Credential } from '../domain/context.js';

/** What the stages of the request path note on a request for the ones after them. */
export interface ServiceRequest extends Request {
  requestId?: string;
  /** The credential presented (stage `identify`); which member it is, the database says later. */
  credential?: Credential;
  /** The secret itself: only to seal and open idempotent answers, never passed to the domain. */
  secret?: string;
  /** The operation the request was routed to. */
  operationId?: string;
  /** Database statements the request caused, noted when its answer is sent. */
  statements?: number;
}

/**
 * The API's paths, where a credential is read, counted against its rate limit and answers are
 * never cached: the service's own (`/v1/…`) and the AuthZEN decision point's (`/access/v1/…`).
 * Health checks, the contract, the docs page and the AuthZEN metadata are public.
 */
export const isApiPath = (path: string) =>
  path.startsWith('/v1/') || path.startsWith('/access/v1/');
