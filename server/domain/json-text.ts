/**
 * JSON text standing for a value of type `T`, written by the database in the contract's
 * representation and sent as it is (a page of fifty members is not parsed into objects and
 * stringified again on every request). Anything that serializes it the ordinary way
 * (`JSON.stringify`) gets the value it stands for.
 */
export class JsonText<T> {
  declare private readonly of?: T;

  constructor(readonly text: string) {}

  toJSON(): T {
    return JSON.parse(this.text) as T;
  }
}

/** A page whose items come as JSON text. */
export interface RenderedPage<T> {
  data: JsonText<T[]>;
  nextCursor: string | null;
}
