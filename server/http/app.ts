import { createHash, randomUUID } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import * as OpenApiValidator from 'express-openapi-validator';
import helmet from 'helmet';
import type { Logger } from 'pino';
import { routes } from '../../generated/routes.js';
import { authenticate, recordKeyUse } from '../domain/api-keys.service.js';
import type { Principal, RequestContext } from '../domain/context.js';
import { AppError } from '../domain/errors.js';
import {
  claimIdempotencyKey,
  completeIdempotencyKey,
  idempotencyScope,
  markCommittedHook,
  releaseIdempotencyKey,
} from '../domain/idempotency.service.js';
import { createHandlers, type HandlerDeps } from './handlers.js';
import { errorHandler, problemOf, type ProblemRequest } from './problem.js';
import { databaseRateLimiter, memoryRateLimiter } from '../domain/rate-limits.service.js';
import { refuseUnstorableText, requireMediaType } from './input-guards.js';
import { exactRouting, refuseDuplicateCredentials } from './hardening.js';

export interface AppDeps extends HandlerDeps {
  logger: Logger;
  /** SHA-256 (hex) of the platform key. */
  platformKeyHash: string;
  /** Requests per API key per minute; 0 turns limiting off. */
  rateLimitPerMinute: number;
  /** Where request windows are counted: this process, or the database all processes share. */
  rateLimitStore: 'memory' | 'database';
  /** Check every response against the contract (on whenever NODE_ENV is not production). */
  validateResponses: boolean;
}

interface ServiceRequest extends ProblemRequest {
  principal?: Principal;
  authentication?: Promise<boolean>;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,200}$/;
const BODY_LIMIT = '64kb';

/** Builds the service: every route comes from the contract's route table. */
export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  exactRouting(app);
  const handlers = createHandlers(deps);
  const limiter =
    deps.rateLimitPerMinute <= 0
      ? undefined
      : deps.rateLimitStore === 'database'
        ? databaseRateLimiter(deps, deps.rateLimitPerMinute)
        : memoryRateLimiter(deps.rateLimitPerMinute);

  app.use(
    helmet({
      contentSecurityPolicy: {
        directives: {
          // The Redoc page is one self-contained file with inline scripts and a blob worker.
          'script-src': ["'self'", "'unsafe-inline'"],
          'worker-src': ["'self'", 'blob:'],
          'img-src': ["'self'", 'data:'],
        },
      },
    }),
  );

  app.use((req: ServiceRequest, res: Response, next: NextFunction) => {
    const given = req.get('x-request-id');
    req.requestId = given !== undefined && REQUEST_ID.test(given) ? given : randomUUID();
    res.setHeader('X-Request-Id', req.requestId);
    if (req.path.startsWith('/v1/')) res.setHeader('Cache-Control', 'no-store');
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      deps.logger.info(
        {
          requestId: req.requestId,
          method: req.method,
          path: req.path,
          status: res.statusCode,
          ms: Number(process.hrtime.bigint() - started) / 1e6,
          actor: req.principal?.kind === 'member' ? req.principal.userId : req.principal?.kind,
        },
        'request',
      );
    });
    next();
  });

  app.use(refuseDuplicateCredentials);
  app.use(requireMediaType);
  app.use(express.json({ limit: BODY_LIMIT, type: ['application/json', 'application/*+json'] }));
  app.use(refuseUnstorableText);

  const authenticateRequest = (req: ServiceRequest): Promise<boolean> => {
    req.authentication ??= (async () => {
      const secret = presentedSecret(req);
      if (secret === undefined) return false;
      let principal: Principal | undefined;
      try {
        principal = await authenticate(deps, deps.platformKeyHash, secret);
      } catch (error) {
        req.authFailure = error;
        throw Object.assign(new Error('refused'), { status: (error as AppError).status ?? 500 });
      }
      if (!principal) {
        req.authFailure = new AppError('UNAUTHENTICATED', 'The API key is not valid.');
        throw Object.assign(new Error('unknown key'), { status: 401 });
      }
      if (limiter) {
        const decision = await limiter.take(
          principal.kind === 'member' ? principal.apiKeyId : 'platform',
        );
        const res = req.res!;
        res.setHeader('RateLimit-Limit', String(decision.limit));
        res.setHeader('RateLimit-Remaining', String(decision.remaining));
        res.setHeader('RateLimit-Reset', String(decision.reset));
        if (!decision.allowed) {
          res.setHeader('Retry-After', String(decision.reset));
          req.authFailure = new AppError(
            'RATE_LIMITED',
            `This API key has made more than ${decision.limit} requests this minute.`,
          );
          throw Object.assign(new Error('rate limited'), { status: 429 });
        }
      }
      req.principal = principal;
      return true;
    })().catch((error: unknown) => {
      req.authFailure ??= error;
      throw error;
    });
    return req.authentication;
  };

  app.use(
    OpenApiValidator.middleware({
      apiSpec: structuredClone(deps.document.json) as never,
      validateApiSpec: false,
      // Full format checks: an impossible date (2026-02-30) or email (a..b@x) is refused, not stored.
      validateFormats: true,
      ajvFormats: { mode: 'full' },
      validateRequests: {
        allowUnknownQueryParameters: false,
        allErrors: true,
        removeAdditional: false,
      },
      validateResponses: deps.validateResponses
        ? { allErrors: true, removeAdditional: false }
        : false,
      validateSecurity: {
        handlers: {
          bearerAuth: (req) => authenticateRequest(req as ServiceRequest),
          apiKeyHeader: (req) => authenticateRequest(req as ServiceRequest),
        },
      },
      ignoreUndocumented: false,
    }),
  );

  for (const route of routes) {
    // Each handler is typed by its operation in `Handlers`; here they are called uniformly.
    const handler = handlers[route.operationId] as unknown as (input: {
      params: unknown;
      query: unknown;
      body: unknown;
      headers: Record<string, string | undefined>;
      ctx: RequestContext;
    }) => Promise<Answer>;
    app[route.method](
      route.expressPath,
      async (req: ServiceRequest, res: Response, next: NextFunction) => {
        const principal: Principal = req.principal ?? { kind: 'anonymous' };
        const idempotencyKey = route.method === 'post' ? req.get('idempotency-key') : undefined;
        const scope = idempotencyScope(principal);
        let claimed = false;
        try {
          if (idempotencyKey !== undefined && principal.kind !== 'anonymous') {
            const claim = await claimIdempotencyKey(
              deps,
              scope,
              idempotencyKey,
              fingerprint(route.operationId, req),
              presentedSecret(req) ?? '',
            );
            if (claim.kind === 'replay')
              return send(res, { ...claim.response, contentType: replayType(claim.response) });
            claimed = true;
          }
          let answer: Answer;
          try {
            answer = await handler({
              params: req.params,
              query: req.query,
              body: req.body,
              headers: {
                'If-Match': req.get('if-match'),
                'Idempotency-Key': idempotencyKey,
                'X-Request-Id': req.get('x-request-id'),
              },
              ctx: {
                principal,
                requestId: req.requestId!,
                ...(claimed ? { beforeCommit: markCommittedHook(scope, idempotencyKey!) } : {}),
              },
            });
          } catch (error) {
            // With a key, a refusal is an answer to remember like any other.
            if (!claimed || !(error instanceof AppError) || error.status >= 500) throw error;
            answer = { ...problemOf(req, error), contentType: 'application/problem+json' };
          }
          if (claimed) {
            // The change is committed: whatever happens to the record, this answer is the truth.
            // A record left unfinished makes retries wait (409) rather than run the change again.
            claimed = false;
            await completeIdempotencyKey(
              deps,
              scope,
              idempotencyKey!,
              {
                status: answer.status,
                headers: pick(answer.headers ?? {}, ['ETag', 'Location']),
                body: answer.body,
              },
              presentedSecret(req) ?? '',
            ).catch((error: unknown) =>
              deps.logger.error(
                { err: error, requestId: req.requestId },
                'could not store the answer of an idempotency key',
              ),
            );
          }
          send(res, answer);
          if (answer.status < 400 && route.auth !== 'none') {
            recordKeyUse(deps, principal).catch((error: unknown) =>
              deps.logger.warn(
                { err: error, requestId: req.requestId },
                'could not record key use',
              ),
            );
          }
        } catch (error) {
          if (claimed) {
            await releaseIdempotencyKey(deps, scope, idempotencyKey!).catch(
              (releaseError: unknown) =>
                deps.logger.error(
                  { err: releaseError, requestId: req.requestId },
                  'could not release an idempotency key',
                ),
            );
          }
          next(error);
        }
      },
    );
  }

  app.use(errorHandler(deps.logger));
  return app;
}

interface Answer {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
  contentType?: string;
}

function send(res: Response, answer: Answer) {
  if (answer.headers) res.set(answer.headers);
  res.status(answer.status);
  if (answer.status === 204) res.end();
  else if (answer.contentType && !answer.contentType.startsWith('application/json')) {
    if (typeof answer.body === 'string') res.type(answer.contentType).send(answer.body);
    else res.type(answer.contentType).json(answer.body);
  } else res.json(answer.body);
}

const replayType = (response: { status: number }) =>
  response.status >= 400 ? 'application/problem+json' : 'application/json';

const pick = (headers: Record<string, string>, names: string[]) =>
  Object.fromEntries(names.filter((n) => headers[n] !== undefined).map((n) => [n, headers[n]!]));

/**
 * What makes two requests "the same" for an idempotency key: the operation, its decoded path
 * parameters (`a%7Cb` and `a|b` are one user) and the body.
 */
function fingerprint(operationId: string, req: Request): string {
  const canonical = (value: unknown): unknown =>
    Array.isArray(value)
      ? value.map(canonical)
      : value && typeof value === 'object'
        ? Object.fromEntries(
            Object.keys(value)
              .sort()
              .map((k) => [k, canonical((value as Record<string, unknown>)[k])]),
          )
        : value;
  return createHash('sha256')
    .update(JSON.stringify([operationId, canonical(req.params), canonical(req.body ?? null)]))
    .digest('hex');
}

/** The secret from `Authorization: Bearer …` or `X-API-Key`; two different secrets are refused. */
function presentedSecret(req: ServiceRequest): string | undefined {
  const authorization = req.get('authorization');
  const bearer =
    authorization === undefined ? undefined : (/^Bearer +(\S+) *$/i.exec(authorization)?.[1] ?? '');
  const apiKey = req.get('x-api-key');
  if (bearer !== undefined && apiKey !== undefined && bearer !== apiKey) return '';
  return bearer ?? apiKey;
}
