import type { operations } from '../../generated/api.js';
import type { OperationId } from '../../generated/routes.js';
import type { RequestContext } from '../domain/context.js';
import type { JsonText } from '../domain/json-text.js';

type Operation<K extends OperationId> = operations[K];

type ParametersOf<K extends OperationId> = Operation<K> extends { parameters: infer P } ? P : never;
type Part<P, Where extends string> = P extends { [W in Where]?: infer V }
  ? [V] extends [undefined]
    ? Record<string, never>
    : NonNullable<V>
  : Record<string, never>;

type BodyOf<K extends OperationId> =
  Operation<K> extends {
    requestBody: { content: { 'application/json': infer B } };
  }
    ? B
    : Operation<K> extends { requestBody?: { content: { 'application/json': infer B } } }
      ? B | undefined
      : undefined;

type SuccessStatus = 200 | 201 | 202 | 204;
type Responses<K extends OperationId> = Operation<K>['responses'];
type ContentOf<R> = R extends { content: infer C }
  ? C extends { 'application/json': infer B }
    ? B
    : C extends Record<string, infer B>
      ? B
      : undefined
  : undefined;

/** What a handler receives: the validated request, typed from the contract. */
export interface HandlerInput<K extends OperationId> {
  params: Part<ParametersOf<K>, 'path'>;
  query: Part<ParametersOf<K>, 'query'>;
  headers: Part<ParametersOf<K>, 'header'>;
  body: BodyOf<K>;
  ctx: RequestContext;
  /** Where the request was sent: its scheme and `Host` header, as given (unchecked). */
  origin: string;
}

/** A body as the contract types it, or with any of its fields as JSON text standing for it. */
type Rendered<B> = B extends object ? { [F in keyof B]: B[F] | JsonText<B[F]> } : B;

/** What a handler answers: one of the operation's documented success statuses and its body. */
export type HandlerResult<K extends OperationId> = {
  [S in keyof Responses<K> & SuccessStatus]: {
    status: S;
    body: Rendered<ContentOf<Responses<K>[S]>>;
    headers?: Record<string, string>;
    /** For operations answering with something other than JSON (YAML, HTML). */
    contentType?: string;
  };
}[keyof Responses<K> & SuccessStatus];

export type Handler<K extends OperationId> = (
  input: HandlerInput<K>,
) => Promise<HandlerResult<K>> | HandlerResult<K>;

/** One handler per operation of the contract: a missing or mistyped one fails `tsc`. */
export type Handlers = { [K in OperationId]: Handler<K> };
