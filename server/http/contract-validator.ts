import type { NextFunction, RequestHandler, Response } from 'express';
import * as OpenApiValidator from 'express-openapi-validator';
import { routes } from '../../generated/routes.js';
import { AppError } from '../errors.js';
import { writeJsonChecked } from './answer.js';
import { presented } from './credentials.js';
import { useIndexedRouteLookup, type OpenApiMetadata } from './route-lookup.js';
import type { ServiceRequest } from './service-request.js';

/**
 * Stage `validator`: requests (and, outside production, responses) are checked against the
 * contract before any handler runs: the validator finds the operation (through the indexed route
 * lookup), `credentialPresented` refuses an operation the contract secures without a credential
 * (whether the credential is valid, the request's own statement answers: an unknown key is 401
 * there), then the validator checks parameters and body.
 */
export function contractValidator(document: object, validateResponses: boolean): RequestHandler[] {
  useIndexedRouteLookup();
  const stages = OpenApiValidator.middleware({
    apiSpec: structuredClone(document) as never,
    validateApiSpec: false,
    // Full format checks: an impossible date (2026-02-30) or email (a..b@x) is refused, not stored.
    validateFormats: true,
    ajvFormats: { mode: 'full' },
    validateRequests: {
      allowUnknownQueryParameters: false,
      allErrors: true,
      removeAdditional: false,
    },
    validateResponses: validateResponses ? { allErrors: true, removeAdditional: false } : false,
    // Checked by `credentialPresented` from the route table: the validator's own check tries each
    // scheme of the operation in turn and builds an Error (stack and all) for each one not used.
    validateSecurity: false,
    // No operation of the contract takes multipart bodies.
    fileUploader: false,
    ignoreUndocumented: false,
  }) as RequestHandler[];
  // The validator's middlewares, in order: path parameters, metadata (the operation), [security,
  // off here], request validation, response validation. The credential check goes right after
  // the operation is known, before the input is looked at, where the validator's own would run.
  const metadata = stages.findIndex((stage) => stage.name === 'metadataMiddleware');
  if (metadata < 0) throw new Error('express-openapi-validator has no metadata middleware');
  const checked = validateResponses ? [writeJsonChecked] : [];
  return [
    ...stages.slice(0, metadata + 1),
    credentialPresented,
    ...checked,
    ...stages.slice(metadata + 1),
  ];
}

const secured = new Set<string>(
  routes.filter((route) => route.auth === 'required').map((route) => route.operationId),
);

/** An operation the contract secures needs a credential (Authorization or X-API-Key). */
function credentialPresented(req: ServiceRequest, _res: Response, next: NextFunction) {
  const operationId = (req as ServiceRequest & { openapi?: OpenApiMetadata }).openapi?.schema
    .operationId as string | undefined;
  if (operationId !== undefined && secured.has(operationId) && !presented(req)) {
    return next(
      new AppError(
        'UNAUTHENTICATED',
        'Send a valid API key as `Authorization: Bearer <key>` or `X-API-Key: <key>`.',
      ),
    );
  }
  next();
}
