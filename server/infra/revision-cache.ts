/**
 * Answers kept with the revision of the organization they were read at, to be sent again while
 * the organization stays at that revision. The cache decides nothing: a read tells the database
 * the revision it holds, and the database, in the statement that authenticates the caller,
 * answers anew unless the organization is still at it. Bounded by the text it holds (the least
 * recently used answer goes first); each process keeps its own.
 */
export class RevisionCache<V> {
  private readonly entries = new Map<string, Kept<V>>();
  private held = 0;

  constructor(
    /** How many characters of answers it holds at most (0: it keeps none). */
    private readonly capacity: number,
    /** An answer's size, in the unit of `capacity`. */
    private readonly sizeOf: (value: V) => number,
  ) {}

  /** The answer kept for `key`, with its revision. */
  get(key: string): Kept<V> | undefined {
    const kept = this.entries.get(key);
    if (kept) {
      this.entries.delete(key); // now the most recently used
      this.entries.set(key, kept);
    }
    return kept;
  }

  /**
   * Keeps `value` as the answer for `key` at `revision` (an answer larger than it all: none). The
   * answer already kept at that revision stays (it is the same answer): a page rendered anew on
   * request while nothing changed is then garbage soon after it is sent, instead of a copy held
   * on, which the collector would move and keep.
   */
  set(key: string, revision: string, value: V): void {
    if (this.get(key)?.revision === revision) return; // now the most recently used
    this.forget(key);
    const size = this.sizeOf(value) + key.length;
    if (size > this.capacity) return;
    this.entries.set(key, { revision, value, size });
    this.held += size;
    for (const [oldest, kept] of this.entries) {
      if (this.held <= this.capacity) break;
      this.entries.delete(oldest);
      this.held -= kept.size;
    }
  }

  /** Characters held now. */
  get size(): number {
    return this.held;
  }

  private forget(key: string) {
    const kept = this.entries.get(key);
    if (!kept) return;
    this.entries.delete(key);
    this.held -= kept.size;
  }
}

export interface Kept<V> {
  revision: string;
  value: V;
  size: number;
}
