import type { NextFunction, Request, RequestHandler, Response } from 'express';

/**
 * Stages run in order as one Express middleware: each stage's `next()` runs the one after it, and
 * an error (`next(error)`, a throw or a rejected promise) goes to the error handler, as between
 * Express's own layers, without a trip through its router between every two stages.
 */
export function stages(...run: RequestHandler[]): RequestHandler {
  return (req: Request, res: Response, done: NextFunction) => {
    let index = 0;
    const next = (error?: unknown) => {
      if (error !== undefined && error !== null) return done(error);
      const stage = run[index];
      index += 1;
      if (stage === undefined) return done();
      try {
        const result = stage(req, res, next as NextFunction);
        if (result instanceof Promise) result.catch(done);
      } catch (thrown) {
        done(thrown);
      }
    };
    next();
  };
}
