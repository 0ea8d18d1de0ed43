import { randomUUID } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import * as OpenApiValidator from 'express-openapi-validator';
import helmet from 'helmet';
import type { Logger } from 'pino';
import { routes, type OperationId } from '../../generated/routes.js';
import { authenticate, recordKeyUse } from '../domain/api-keys.service.js';
import type { Principal } from '../domain/context.js';
import { AppError } from '../domain/errors.js';
import type { HandlerInput } from './handler-types.js';
import { createHandlers, type HandlerDeps } from './handlers.js';
import { errorHandler, type ProblemRequest } from './problem.js';
import { RateLimiter } from './rate-limit.js';

export interface AppDeps extends HandlerDeps {
  logger: Logger;
  /** SHA-256 (hex) of the platform key. */
  platformKeyHash: string;
  /** Requests per API key per minute; 0 turns limiting off. */
  rateLimitPerMinute: number;
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
  const handlers = createHandlers(deps);
  const limiter = new RateLimiter(deps.rateLimitPerMinute);

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

  // A body without a declared media type is refused before parsing, not silently ignored.
  app.use((req: Request, _res: Response, next: NextFunction) => {
    const hasBody = req.get('content-length') !== undefined && req.get('content-length') !== '0';
    if ((hasBody || req.get('transfer-encoding') !== undefined) && !req.get('content-type')) {
      return next(
        new AppError('UNSUPPORTED_MEDIA_TYPE', 'Send the request body as application/json.'),
      );
    }
    next();
  });
  app.use(express.json({ limit: BODY_LIMIT, type: ['application/json', 'application/*+json'] }));

  const authenticateRequest = (req: ServiceRequest): Promise<boolean> => {
    req.authentication ??= (async () => {
      const secret = presentedSecret(req);
      if (secret === undefined) return false;
      let principal: Principal | undefined;
      try {
        principal = await authenticate(deps, deps.platformKeyHash, secret);
      } catch (error) {
        if (error instanceof AppError) req.authFailure = error;
        throw Object.assign(new Error('refused'), { status: (error as AppError).status ?? 500 });
      }
      if (!principal) {
        req.authFailure = new AppError('UNAUTHENTICATED', 'The API key is not valid.');
        throw Object.assign(new Error('unknown key'), { status: 401 });
      }
      if (limiter.enabled) {
        const decision = limiter.take(principal.kind === 'member' ? principal.apiKeyId : 'platform');
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
    })();
    return req.authentication;
  };

  app.use(
    OpenApiValidator.middleware({
      apiSpec: structuredClone(deps.document.json) as never,
      validateApiSpec: false,
      validateRequests: { allowUnknownQueryParameters: false, allErrors: true, removeAdditional: false },
      validateResponses: deps.validateResponses ? { allErrors: true, removeAdditional: false } : false,
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
    const handler = handlers[route.operationId] as unknown as (
      input: HandlerInput<OperationId>,
    ) => Promise<{ status: number; body: unknown; headers?: Record<string, string>; contentType?: string }>;
    app[route.method](route.expressPath, async (req: ServiceRequest, res: Response, next: NextFunction) => {
      try {
        const result = await handler({
          params: req.params as never,
          query: req.query as never,
          body: req.body as never,
          headers: {
            'If-Match': req.get('if-match'),
            'Idempotency-Key': req.get('idempotency-key'),
            'X-Request-Id': req.get('x-request-id'),
          } as never,
          ctx: { principal: req.principal ?? { kind: 'anonymous' }, requestId: req.requestId! },
        });
        if (result.headers) res.set(result.headers);
        res.status(result.status);
        if (result.status === 204) res.end();
        else if (result.contentType) res.type(result.contentType).send(result.body);
        else res.json(result.body);
        if (req.principal && route.auth !== 'none') {
          recordKeyUse(deps, req.principal).catch((error: unknown) =>
            deps.logger.warn({ err: error, requestId: req.requestId }, 'could not record key use'),
          );
        }
      } catch (error) {
        next(error);
      }
    });
  }

  app.use(errorHandler(deps.logger));
  return app;
}

/** The secret from `Authorization: Bearer …` or `X-API-Key`; two different secrets are refused. */
function presentedSecret(req: ServiceRequest): string | undefined {
  const authorization = req.get('authorization');
  const bearer = authorization === undefined ? undefined : /^Bearer +(\S+) *$/i.exec(authorization)?.[1] ?? '';
  const apiKey = req.get('x-api-key');
  if (bearer !== undefined && apiKey !== undefined && bearer !== apiKey) return '';
  return bearer ?? apiKey;
}
