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
