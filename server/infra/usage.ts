import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { Caller } from '../storage/access.repository.js';
import type { Db } from '../storage/database.js';
import { addToWindows, recordKeysUsed, sweepWindows } from '../storage/usage.repository.js';

export interface RateDecision {
  limit: number;
  remaining: number;
  /** Seconds until the window resets. */
  reset: number;
  allowed: boolean;
}

export interface UsageOptions {
  db: Db;
  logger: Logger;
  /** Requests per credential per minute; 0 turns limiting off. */
  perMinute: number;
  /** Count windows in the database too, so every process shares one limit (PostgreSQL). */
  shared: boolean;
  /** How often counts and last uses are written (at most once per interval). */
  flushMs?: number;
  now?: () => number;
}

/** A credential's bucket: the platform key, or a key by a hash of its hash (never the secret). */
export function bucketOf(caller: Caller): string {
  // On behalf of a member, the platform key's own limit counts.
  if (caller.kind === 'platform' || (caller.kind === 'user' && caller.via === 'platform')) {
    return 'platform';
  }
  const id = caller.kind === 'key' ? caller.secretHash : `user:${caller.userId}`;
  return `${caller.kind}:${createHash('sha256').update(id).digest('hex').slice(0, 40)}`;
}

interface Window {
  /** The window: minutes since the epoch, the same in every process. */
  minute: number;
  /** Requests counted here and not yet written. */
  unsent: number;
  /** Requests counted here and being written now (counted until the database's total includes them). */
  sending: number;
  /** The count all processes had written for this window when this process last wrote. */
  shared: number;
  /** Whether the credential was found valid (only those are written to the database). */
  known: boolean;
}

const MAX_UNKNOWN = 100_000;

/**
 * Rate limits and `lastUsedAt` without a database write on the request path. Each process counts
 * requests per credential in one-minute windows aligned to the clock, and decides from its own
 * count plus the shared count it last learned. Once a flush interval (1 s) it adds its counts to
 * the database's and learns the others' (PostgreSQL: one statement for every credential it saw
 * this minute). A request another process admitted is seen everywhere within two intervals, so
 * across processes a credential can exceed its limit by at most what the other processes admit
 * for it in about two seconds. Last uses are written in the same rhythm.
 */
export class UsageRecorder {
  private readonly windows = new Map<string, Window>();
  private readonly lastUsed = new Map<string, Date>();
  private unknown = 0;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private readonly now: () => number;
  private sweptMinute = 0;

  constructor(private readonly options: UsageOptions) {
    this.now = options.now ?? Date.now;
  }

  get limiting(): boolean {
    return this.options.perMinute > 0;
  }

  /** Counts one request of the credential and decides whether it may go on. */
  take(caller: Caller): RateDecision {
    const limit = this.options.perMinute;
    const at = this.now();
    const minute = Math.floor(at / 60_000);
    const bucket = bucketOf(caller);
    let window = this.windows.get(bucket);
    if (!window || window.minute !== minute) {
      const known = window?.known ?? bucket === 'platform';
      if (!window && !known && ++this.unknown > MAX_UNKNOWN) this.forgetUnknown();
      window = { minute, unsent: 0, sending: 0, shared: 0, known };
      this.windows.set(bucket, window);
    }
    window.unsent += 1;
    const count = window.shared + window.sending + window.unsent;
    return {
      limit,
      remaining: Math.max(0, limit - count),
      reset: Math.max(1, Math.ceil(((minute + 1) * 60_000 - at) / 1000)),
      allowed: count <= limit,
    };
  }

  /** Notes the outcome of a request: a key that was not refused as unknown is a real one. */
  settled(caller: Caller, status: number): void {
    if (caller.kind === 'platform' || status === 401) return;
    const window = this.windows.get(bucketOf(caller));
    if (window && !window.known) {
      window.known = true;
      this.unknown -= 1;
    }
    if (caller.kind === 'key' && status < 400) {
      this.lastUsed.set(caller.secretHash, new Date(this.now()));
    }
  }

  start(): void {
    const every = this.options.flushMs ?? 1000;
    this.timer = setInterval(() => void this.flush(), every);
    this.timer.unref();
  }

  /** Stops the timer and writes what is left. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }

  /** Writes counts and last uses; one flush at a time, failures are logged and retried later. */
  flush(): Promise<void> {
    this.flushing ??= this.write().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  private async write(): Promise<void> {
    const minute = Math.floor(this.now() / 60_000);
    for (const [bucket, window] of this.windows) {
      if (window.minute < minute) {
        if (!window.known) this.unknown -= 1;
        this.windows.delete(bucket);
      }
    }
    const used = [...this.lastUsed];
    this.lastUsed.clear();
    // Every credential seen this window is sent, with 0 when it had no new requests here: the
    // answer refreshes what the other processes counted for it.
    const sending =
      this.options.shared && this.limiting ? [...this.windows].filter(([, w]) => w.known) : [];
    const counts = sending.map(([bucket, w]) => ({ bucket, minute: w.minute, add: w.unsent }));
    for (const [, w] of sending) {
      w.sending += w.unsent;
      w.unsent = 0;
    }
    // Until the database answers, what is being written still counts here.
    const sent = (bucket: string, minute: number, add: number) => {
      const window = this.windows.get(bucket);
      if (window && window.minute === minute) window.sending -= add;
      return window && window.minute === minute ? window : undefined;
    };
    try {
      if (used.length > 0) {
        await recordKeysUsed(
          this.options.db,
          used.map(([secretHash, at]) => ({ secretHash, at })),
        );
      }
      if (counts.length > 0) {
        if (this.sweptMinute !== minute) {
          this.sweptMinute = minute;
          await sweepWindows(this.options.db);
        }
        const totals = await addToWindows(this.options.db, counts);
        const total = new Map(totals.map((t) => [`${t.bucket} ${t.minute}`, t.count]));
        for (const { bucket, minute: m, add } of counts) {
          const window = sent(bucket, m, add);
          const count = total.get(`${bucket} ${m}`);
          if (window && count !== undefined) window.shared = count;
        }
      }
    } catch (error) {
      // Not lost: counted again next time (and a last use is only a hint).
      for (const { bucket, minute: m, add } of counts) {
        const window = sent(bucket, m, add);
        if (window) window.unsent += add;
      }
      this.options.logger.warn({ err: error }, 'could not write rate-limit counts and key uses');
    }
  }

  private forgetUnknown() {
    for (const [bucket, window] of this.windows) if (!window.known) this.windows.delete(bucket);
    this.unknown = 0;
  }
}
