/** The stable error codes of the contract (`ErrorCode` in openapi/), with their HTTP status. */
export const ERROR_STATUS = {
  VALIDATION_FAILED: 400,
  UNAUTHENTICATED: 401,
  INSUFFICIENT_PERMISSION: 403,
  PRIVILEGE_CEILING: 403,
  MEMBER_SUSPENDED: 403,
  NOT_FOUND: 404,
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
  IDEMPOTENCY_KEY_IN_USE: 409,
  PRECONDITION_FAILED: 412,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  IDEMPOTENCY_KEY_REUSED: 422,
  PRECONDITION_REQUIRED: 428,
  RATE_LIMITED: 429,
  HEADERS_TOO_LARGE: 431,
  INTERNAL: 500,
  NOT_IMPLEMENTED: 501,
  SERVICE_UNAVAILABLE: 503,
  COMMIT_OUTCOME_UNKNOWN: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

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
