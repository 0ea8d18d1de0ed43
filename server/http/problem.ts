import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ErrorRequestHandler, Request, Response } from 'express';
import type { Logger } from 'pino';
import { AppError, ERROR_STATUS, type ErrorCode, type FieldError } from '../errors.js';
import { CommitOutcomeUnknownError, classifyDatabaseError } from '../storage/database-errors.js';
import { sendJson } from './answer.js';
import { refusalFor, type Refusals } from './refusals.js';

const TITLES: Record<ErrorCode, string> = {
  VALIDATION_FAILED: 'The request is not valid',
  UNAUTHENTICATED: 'Authentication required',
  INSUFFICIENT_PERMISSION: 'Permission denied',
  PRIVILEGE_CEILING: 'Beyond your own privileges',
  MEMBER_SUSPENDED: 'Membership suspended',
  ON_BEHALF_OF_NOT_ALLOWED: 'On behalf of: platform key only',
  ON_BEHALF_OF_REQUIRED: 'On behalf of a member',
  NOT_FOUND: 'Not found',
  NOT_A_MEMBER: 'Not a member',
  METHOD_NOT_ALLOWED: 'Method not allowed',
  REQUEST_TIMEOUT: 'Request timeout',
  OWNER_REQUIRED: 'The organization needs its owner',
  MEMBER_EXISTS: 'Already a member',
  SLUG_TAKEN: 'Slug taken',
  ROLE_NAME_TAKEN: 'Role name taken',
  TEAM_NAME_TAKEN: 'Team name taken',
  TEAM_LIMIT_REACHED: 'Too many teams',
  API_KEY_LIMIT_REACHED: 'Too many API keys',
  BUILT_IN_ROLE: 'Built-in roles are read-only',
  ROLE_IN_USE: 'Role in use',
  TARGET_SUSPENDED: 'Member suspended',
  PERMISSION_IN_USE: 'Permission in use',
  BUILT_IN_PERMISSION: 'Service permission',
  PERMISSION_LIMIT_REACHED: 'Too many permissions',
  IDEMPOTENCY_KEY_IN_USE: 'Request in progress',
  PRECONDITION_FAILED: 'Precondition failed',
  PAYLOAD_TOO_LARGE: 'Payload too large',
  UNSUPPORTED_MEDIA_TYPE: 'Unsupported media type',
  IDEMPOTENCY_KEY_REUSED: 'Idempotency key reused',
  PRECONDITION_REQUIRED: 'Precondition required',
  RATE_LIMITED: 'Too many requests',
  HEADERS_TOO_LARGE: 'Request headers too large',
  INTERNAL: 'Internal error',
  SERVICE_UNAVAILABLE: 'Service unavailable',
  COMMIT_OUTCOME_UNKNOWN: 'Outcome of the change unknown',
  INVITATION_EXISTS: 'Invitation exists',
  INVITATION_NOT_PENDING: 'Invitation not pending',
  INVITATION_INVALIDATED: 'Invitation invalidated',
  INVITATION_EMAIL_MISMATCH: 'Invitation for another email',
  INVITATION_EXPIRED: 'Invitation expired',
  SEAT_LIMIT_REACHED: 'No seat left',
  BATCH_FAILED: 'Batch failed',
};

export const problemTitle = (code: ErrorCode) => TITLES[code];

/** A stable URI per code; `code` carries the same identity for programs. */
export const problemType = (code: ErrorCode) =>
  `/problems/${code.toLowerCase().replaceAll('_', '-')}`;

export interface ProblemRequest extends Request {
  requestId?: string;
}

const MAX_FIELD_ERRORS = 50;
const cut = (text: string, max: number) =>
  text.length > max ? `${text.slice(0, max - 1)}…` : text;

/** The problem+json answer for an error: status, headers and body. */
export function problemOf(req: ProblemRequest, error: AppError) {
  const headers: Record<string, string> = {};
  if (error.code === 'UNAUTHENTICATED') {
    headers['WWW-Authenticate'] = 'Bearer realm="member-roles", ApiKey header="X-API-Key"';
  }
  Object.assign(headers, error.headers);
  return {
    status: error.status,
    headers,
    body: problemBody(error, req.originalUrl.split('?')[0] ?? '', req.requestId ?? ''),
  };
}

/** The problem body of an error: for an answer, or for one item of a batch. */
export function problemBody(error: AppError, instance: string, requestId: string) {
  return {
    ...error.extensions,
    type: problemType(error.code),
    title: TITLES[error.code],
    status: error.status,
    detail: error.message,
    instance,
    code: error.code,
    requestId,
    ...(error.errors && error.errors.length > 0
      ? {
          // A hostile body can fail thousands of checks: the answer stays small.
          errors: error.errors.slice(0, MAX_FIELD_ERRORS).map((e) => ({
            location: e.location,
            path: cut(e.path, 200),
            message: cut(e.message, 500),
          })),
        }
      : {}),
  };
}

export function sendProblem(req: ProblemRequest, res: Response, error: AppError) {
  const problem = problemOf(req, error);
  for (const name in problem.headers) res.setHeader(name, problem.headers[name]!);
  res.statusCode = problem.status;
  res.setHeader('Content-Type', 'application/problem+json; charset=utf-8');
  sendJson(res, problem.body);
}

interface ValidatorError {
  status?: number;
  statusCode?: number;
  type?: string;
  message?: string;
  headers?: Record<string, string>;
  errors?: { path?: string; message?: string; errorCode?: string }[];
}

const LOCATIONS: Record<string, FieldError['location']> = {
  body: 'body',
  query: 'query',
  params: 'path',
  path: 'path',
  headers: 'header',
  header: 'header',
};

/** The validator's errors as field errors; a rule the contract names (`x-refusal`) in its words. */
function fieldErrors(error: ValidatorError, refused: Refused): (FieldError & { rule?: true })[] {
  return (error.errors ?? []).map((e) => {
    const [, where = 'body', ...rest] = (e.path ?? '').replaceAll('.', '/').split('/');
    const location = LOCATIONS[where] ?? 'body';
    const path = location === 'body' ? `/${rest.join('/')}` : rest.join('/');
    const rule =
      location === 'body'
        ? refused(path, e.errorCode?.replace(/\.openapi\.validation$/, ''))
        : undefined;
    return rule !== undefined
      ? { location, path, message: rule, rule: true as const }
      : { location, path, message: e.message ?? 'is not valid' };
  });
}

type Refused = (path: string, keyword: string | undefined) => string | undefined;

/** How long a client should wait before sending a request again when the database is away. */
const RETRY_AFTER_SECONDS = '1';

/** Turns anything thrown into problem+json: known failures keep their code, the rest is a logged 500. */
function toAppError(error: ValidatorError & Error, refused: Refused): AppError {
  if (error instanceof AppError) return error;
  if (error instanceof CommitOutcomeUnknownError) {
    return new AppError(
      'COMMIT_OUTCOME_UNKNOWN',
      'The connection to the database was lost while this change was being committed: it may or may not have been applied. Read the resource to see, or send the request again with the same Idempotency-Key.',
    );
  }
  if (classifyDatabaseError(error)) {
    return new AppError(
      'SERVICE_UNAVAILABLE',
      'The database cannot be reached right now; nothing was changed. Retry after the time given in Retry-After.',
    );
  }
  const status = error.status ?? error.statusCode;
  if (error.type === 'entity.too.large' || status === 413) {
    return new AppError(
      'PAYLOAD_TOO_LARGE',
      'The request body is larger than this service accepts.',
    );
  }
  if (error.type === 'entity.parse.failed' || error instanceof SyntaxError) {
    return new AppError('VALIDATION_FAILED', 'The request body is not valid JSON.', [
      { location: 'body', path: '/', message: 'not valid JSON' },
    ]);
  }
  if (
    error.type === 'encoding.unsupported' ||
    error.type === 'charset.unsupported' ||
    status === 415
  ) {
    return new AppError(
      'UNSUPPORTED_MEDIA_TYPE',
      'Send the request body as application/json (UTF-8).',
    );
  }
  const responseInvalid = (error.errors ?? []).some((e) => e.path?.startsWith('/response'));
  if (status !== undefined && status >= 400 && status < 500 && !responseInvalid) {
    switch (status) {
      case 400: {
        const errors = fieldErrors(error, refused);
        const rules = [...new Set(errors.filter((e) => e.rule).map((e) => e.message))];
        return new AppError(
          'VALIDATION_FAILED',
          rules.length > 0 ? rules.join(' ') : 'The request does not match the contract.',
          errors.map(({ location, path, message }) => ({ location, path, message })),
        );
      }
      case 404:
        return new AppError('NOT_FOUND', 'No such resource.');
      case 405:
        return new AppError('METHOD_NOT_ALLOWED', 'This resource does not support that method.');
      default:
        break;
    }
  }
  return new AppError(
    'INTERNAL',
    'Something went wrong on our side; the request id identifies it in our logs.',
  );
}

/**
 * Stage `errorHandler`. `refusals` (from the contract's `x-refusal` texts) name the rule a
 * schema-encoded refusal enforces.
 */
export function errorHandler(logger: Logger, refusals: Refusals = new Map()): ErrorRequestHandler {
  return (error, req: ProblemRequest, res, next) => {
    if (res.headersSent) return next(error);
    const cause = error as ValidatorError & Error;
    const operationId = (req as { openapi?: { schema?: { operationId?: string } } }).openapi?.schema
      ?.operationId;
    const appError = toAppError(cause, (path, keyword) =>
      refusalFor(refusals, operationId, path, keyword),
    );
    if (appError.code === 'INTERNAL') {
      logger.error(
        { err: cause, requestId: req.requestId, url: req.originalUrl },
        'request failed',
      );
    }
    if (appError.status === 503) {
      res.setHeader('Retry-After', RETRY_AFTER_SECONDS);
      // The database's own code stays in the log; the answer says only what the client can do.
      const database =
        cause instanceof CommitOutcomeUnknownError
          ? cause.databaseCode
          : classifyDatabaseError(cause)?.code;
      if (database !== undefined) {
        logger.warn(
          { requestId: req.requestId, url: req.originalUrl, code: appError.code, database },
          'database unavailable',
        );
      }
    }
    if (appError.code === 'METHOD_NOT_ALLOWED') {
      const allow =
        (error as ValidatorError).headers?.Allow ?? (error as ValidatorError).headers?.allow;
      if (allow) res.setHeader('Allow', allow);
    }
    if (appError.code === 'RATE_LIMITED' && !res.getHeader('Retry-After')) {
      res.setHeader('Retry-After', '60');
    }
    sendProblem(req, res, appError);
  };
}

const PARSER_ANSWERS: Record<string, { code: ErrorCode; reason: string; detail: string }> = {
  HPE_HEADER_OVERFLOW: {
    code: 'HEADERS_TOO_LARGE',
    reason: 'Request Header Fields Too Large',
    detail: 'The request headers are larger than this service accepts.',
  },
  ERR_HTTP_REQUEST_TIMEOUT: {
    code: 'REQUEST_TIMEOUT',
    reason: 'Request Timeout',
    detail: 'The request was not received in time; send it again, all at once.',
  },
};
const NOT_HTTP = {
  code: 'VALIDATION_FAILED' as const,
  reason: 'Bad Request',
  detail: 'The request is not valid HTTP.',
};

/**
 * Requests Node's HTTP server refuses before Express sees them (headers too large, malformed
 * request lines, headers or body not received within the timeouts) still get a problem+json
 * answer with a code, unless an answer has already begun on that connection.
 */
export function answerParserErrors(server: Server) {
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    const answering = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })
      ._httpMessage;
    if (!socket.writable || error.code === 'ECONNRESET' || answering?.headersSent) {
      socket.destroy();
      return;
    }
    const { code, reason, detail } = PARSER_ANSWERS[error.code ?? ''] ?? NOT_HTTP;
    const status = ERROR_STATUS[code];
    const requestId = randomUUID();
    const body = JSON.stringify({
      type: problemType(code),
      title: TITLES[code],
      status,
      detail,
      code,
      requestId,
    });
    socket.end(
      `HTTP/1.1 ${status} ${reason}\r\n` +
        `Content-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `X-Request-Id: ${requestId}\r\nConnection: close\r\n\r\n${body}`,
    );
    // A client that neither reads nor closes does not keep the connection.
    setTimeout(() => socket.destroy(), 1000).unref();
  });
}
