import type { components } from '../generated/api.js';

/** The stable error codes, as the contract's `ErrorCode` lists them. */
export type ErrorCode = components['schemas']['ErrorCode'];

/** The HTTP status of each code: exactly the contract's codes, no more, no fewer. */
export const ERROR_STATUS = {
  VALIDATION_FAILED: 400,
  UNAUTHENTICATED: 401,
  INSUFFICIENT_PERMISSION: 403,
  PRIVILEGE_CEILING: 403,
  MEMBER_SUSPENDED: 403,
  ON_BEHALF_OF_NOT_ALLOWED: 403,
  ON_BEHALF_OF_REQUIRED: 403,
  NOT_FOUND: 404,
  /** Only in access decisions (`context.code`), never an HTTP answer. */
  NOT_A_MEMBER: 404,
  METHOD_NOT_ALLOWED: 405,
  REQUEST_TIMEOUT: 408,
  OWNER_REQUIRED: 409,
  MEMBER_EXISTS: 409,
  SLUG_TAKEN: 409,
  ROLE_NAME_TAKEN: 409,
  TEAM_NAME_TAKEN: 409,
  TEAM_LIMIT_REACHED: 409,
  API_KEY_LIMIT_REACHED: 409,
  BUILT_IN_ROLE: 409,
  ROLE_IN_USE: 409,
  TARGET_SUSPENDED: 409,
  PERMISSION_IN_USE: 409,
  BUILT_IN_PERMISSION: 409,
  PERMISSION_LIMIT_REACHED: 409,
  IDEMPOTENCY_KEY_IN_USE: 409,
  PRECONDITION_FAILED: 412,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  IDEMPOTENCY_KEY_REUSED: 422,
  PRECONDITION_REQUIRED: 428,
  RATE_LIMITED: 429,
  HEADERS_TOO_LARGE: 431,
  INTERNAL: 500,
  SERVICE_UNAVAILABLE: 503,
  COMMIT_OUTCOME_UNKNOWN: 503,
  INVITATION_EXISTS: 409,
  INVITATION_NOT_PENDING: 409,
  INVITATION_INVALIDATED: 409,
  INVITATION_EMAIL_MISMATCH: 403,
  INVITATION_EXPIRED: 410,
  SEAT_LIMIT_REACHED: 409,
  BATCH_FAILED: 409,
} as const satisfies Record<ErrorCode, number>;

export interface FieldError {
  location: 'body' | 'path' | 'query' | 'header';
  path: string;
  message: string;
}

/** The one error type of the domain; the HTTP layer turns it into problem+json. */
export class AppError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly errors?: FieldError[],
    /** Headers the answer carries (`WWW-Authenticate` saying what is wrong with a token). */
    readonly headers?: Record<string, string>,
    /** Members the problem body carries besides the standard ones (`results` of a failed batch). */
    readonly extensions?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'AppError';
    this.status = ERROR_STATUS[code];
  }
}

export const notFound = (what = 'The resource') =>
  new AppError('NOT_FOUND', `${what} does not exist or is not visible to you.`);

export const invalid = (location: FieldError['location'], path: string, message: string) =>
  new AppError('VALIDATION_FAILED', message, [{ location, path, message }]);
