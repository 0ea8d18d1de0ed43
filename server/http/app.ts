import { IncomingMessage, ServerResponse, type RequestListener } from 'node:http';
import express, {
  type ErrorRequestHandler,
  type NextFunction,
  type Request,
  type RequestHandler,
  type Response,
} from 'express';
import { AppError } from '../errors.js';
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
 * The service's HTTP side: its request listener, and the classes its server makes requests and
 * responses of. They are born with Express's prototypes: an object whose prototype is swapped
 * after it is made (as Express swaps them on every request) gets a map of its own from then on
 * in V8, so every property a stage adds makes another map, and every place that reads a request
 * sees a new one each time.
 */
export interface ServiceApp {
  listener: RequestListener;
  IncomingMessage: typeof IncomingMessage;
  ServerResponse: typeof ServerResponse;
}

/**
 * Builds the service as a few named stages, in order: security headers → `requestContext` →
 * (`metricsAccess` for /metrics) → `identify` → `rateLimit` → parsers → the contract's validator →
 * `operation` (every route from the contract's route table) → `errorHandler`. No stage calls into
 * another; consecutive stages run as one Express middleware (`stages`). A request to the API
 * (`/v1/…`, `/access/v1/…`) enters its stages directly (`enterStages`), not through Express's
 * router, whose layers it would pass all the same.
 */
export function createApp(deps: AppDeps): ServiceApp {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  exactRouting(app);
  const first = stages(
    securityHeaders(),
    requestContext(deps.logger, (...a) => deps.metrics.requestFinished(...a)),
  );
  const api = stages(
    refuseDuplicateCredentials,
    identify(deps.platformKeyHash, deps.tokens),
    rateLimit(deps.usage, (kind) => deps.metrics.rateLimited(kind)),
    requireMediaType,
    express.json({ limit: BODY_LIMIT, type: ['application/json', 'application/*+json'] }),
    refuseUnstorableText,
    ...contractValidator(deps.document.json, deps.validateResponses),
    operations(createHandlers(deps), deps),
  );
  const problems = errorHandler(deps.logger, refusalsOf(deps.document.json));
  app.use(first);
  app.use('/metrics', metricsAccess(deps.platformKeyHash, deps.metricsPublic));
  app.use(api);
  app.use(problems);
  const born = bornExpress(app);
  return {
    listener: enterStages(app, born.IncomingMessage, stages(first, api), problems, deps.logger),
    ...born,
  };
}

/** Request and response classes whose instances have the app's Express prototypes from birth. */
function bornExpress(app: express.Express) {
  class Request extends IncomingMessage {}
  Object.setPrototypeOf(Request.prototype, app.request);
  class Response extends ServerResponse {}
  Object.setPrototypeOf(Response.prototype, app.response);
  return {
    IncomingMessage: Request,
    ServerResponse: Response as typeof ServerResponse,
  };
}

/**
 * The service's request listener: a request whose path is the API's (written as a path, not in
 * absolute form) is made an Express request and response as `app.handle` and its router make
 * them (`res.locals`, `baseUrl`, `originalUrl`, `params`; the prototypes it has from birth),
 * then runs `api` and, on an error, `problems`, as the router would after passing every layer
 * before them (none of which is the API's); any other request goes to `app`.
 */
function enterStages(
  app: express.Express,
  born: typeof IncomingMessage,
  api: RequestHandler,
  problems: ErrorRequestHandler,
  logger: Logger,
): RequestListener {
  return (incoming, outgoing) => {
    const url = incoming.url ?? '';
    if (!isApiPath(url)) {
      app(incoming, outgoing);
      return;
    }
    const req = incoming as Request;
    const res = outgoing as Response;
    req.res = res;
    res.req = req;
    // Made by another server than `listen`'s: given Express's prototypes now.
    if (!(incoming instanceof born)) {
      Object.setPrototypeOf(req, app.request);
      Object.setPrototypeOf(res, app.response);
    }
    res.locals = Object.create(null) as Response['locals'];
    req.baseUrl = '';
    req.originalUrl = url;
    req.params = {};
    // Past the last stage with no answer: no operation of the contract (the validator says so
    // first). An error once an answer has begun, or one in answering an error: logged, and the
    // connection cut, as Express's own final handler cuts it.
    const cut = (error: unknown) => {
      logger.error({ err: error, url: req.originalUrl }, 'request failed after its answer began');
      res.destroy();
    };
    api(req, res, (error?: unknown) => {
      try {
        problems(error ?? new AppError('NOT_FOUND', 'No such resource.'), req, res, cut);
      } catch (thrown) {
        cut(thrown);
      }
    });
  };
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
