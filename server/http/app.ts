import express, { type NextFunction, type Request, type Response } from 'express';
import helmet from 'helmet';
import type { Logger } from 'pino';
import type { TokenVerifier } from '../infra/tokens.js';
import type { UsageRecorder } from '../infra/usage.js';
import { contractValidator } from './contract-validator.js';
import { identify } from './credentials.js';
import { createHandlers, type HandlerDeps } from './handlers.js';
import { refuseUnstorableText, requireMediaType } from './input-guards.js';
import { operations } from './operations.js';
import { errorHandler } from './problem.js';
import { metricsAccess } from './metrics-access.js';
import { rateLimit } from './rate-limit.js';
import { refusalsOf } from './refusals.js';
import { requestContext } from './request-context.js';
import { isApiPath } from './service-request.js';
import { stages } from './stages.js';
import { exactRouting, refuseDuplicateCredentials } from './hardening.js';

export interface AppDeps extends HandlerDeps {
  logger: Logger;
  /** SHA-256 (hex) of the platform key. */
  platformKeyHash: string;
  /** Per-credential rate limits and key last uses, counted without writing on the request path. */
  usage: UsageRecorder;
  /** Access tokens of the product's identity provider, when the deployment accepts them. */
  tokens: TokenVerifier | undefined;
  /** Check every response against the contract (on whenever NODE_ENV is not production). */
  validateResponses: boolean;
  /** `GET /metrics` without the platform key. */
  metricsPublic: boolean;
}

const BODY_LIMIT = '64kb';

/**
 * Builds the service as a few named stages, in order: security headers → `requestContext` →
 * (`metricsAccess` for /metrics) → `identify` → `rateLimit` → parsers → the contract's validator →
 * `operation` (every route from the contract's route table) → `errorHandler`. No stage calls into
 * another; consecutive stages run as one Express middleware (`stages`).
 */
export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  exactRouting(app);
  app.use(
    stages(
      securityHeaders(),
      requestContext(deps.logger, (...a) => deps.metrics.requestFinished(...a)),
    ),
  );
  app.use('/metrics', metricsAccess(deps.platformKeyHash, deps.metricsPublic));
  app.use(
    stages(
      refuseDuplicateCredentials,
      identify(deps.platformKeyHash, deps.tokens),
      rateLimit(deps.usage, (kind) => deps.metrics.rateLimited(kind)),
      requireMediaType,
      express.json({ limit: BODY_LIMIT, type: ['application/json', 'application/*+json'] }),
      refuseUnstorableText,
      ...contractValidator(deps.document.json, deps.validateResponses),
      operations(createHandlers(deps), deps),
    ),
  );
  app.use(errorHandler(deps.logger, refusalsOf(deps.document.json)));
  return app;
}

/**
 * Security headers, worked out once. Pages (the Redoc reference, the documents, health, problem
 * pages) get helmet's headers. Answers of the API get the ones OWASP's REST Security Cheat Sheet
 * lists for JSON APIs: HTTPS only, no sniffing, never framed, nothing loaded or run from them
 * (helmet's others concern HTML documents; on every answer they were about 450 bytes and half the
 * header lines).
 */
function securityHeaders() {
  const page = headersSetBy(helmetMiddleware());
  const kept = new Set(['strict-transport-security', 'x-content-type-options']);
  const api: [string, string][] = [
    ...page.filter(([name]) => kept.has(name.toLowerCase())),
    ['Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'"],
    ['X-Frame-Options', 'DENY'],
  ];
  if (api.length !== 4) throw new Error('helmet no longer sets HSTS and nosniff as expected');
  return (req: Request, res: Response, next: NextFunction) => {
    for (const [name, value] of isApiPath(req.path) ? api : page) res.setHeader(name, value);
    next();
  };
}

/** The headers a middleware that only sets static headers sets, in order. */
function headersSetBy(middleware: (req: never, res: never, next: () => void) => void) {
  const headers: [string, string][] = [];
  let done = false;
  const res = {
    setHeader: (name: string, value: string) => void headers.push([name, String(value)]),
    removeHeader: () => undefined,
  };
  middleware({ method: 'GET', headers: {} } as never, res as never, () => (done = true));
  if (!done) throw new Error('the security headers middleware did not finish synchronously');
  return headers;
}

function helmetMiddleware() {
  return helmet({
    contentSecurityPolicy: {
      directives: {
        // The Redoc page is one self-contained file with inline scripts and a blob worker.
        'script-src': ["'self'", "'unsafe-inline'"],
        'worker-src': ["'self'", 'blob:'],
        'img-src': ["'self'", 'data:'],
      },
    },
  });
}
