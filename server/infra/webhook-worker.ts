import type { Logger } from 'pino';
import { endpointsAfter, outcomeOf } from '../domain/webhook-delivery.js';
import { toAuditEvent } from '../domain/representations.js';
import type { Db } from '../storage/database.js';
import {
  claimDueDeliveries,
  recordOutcomes,
  releaseDeliveries,
  type ClaimedDelivery,
  type DeliveryOutcome,
} from '../storage/webhooks.repository.js';
import type { EventSignal } from './event-signal.js';
import type { Metrics } from './metrics.js';
import { DeliveryConnections, sendDelivery, signedHeaders } from './webhook-sender.js';
import type { WebhookUrlGuard } from './webhook-url.js';

/** At most this many outcomes in one recording statement. */
const RECORDED_AT_ONCE = 100;

export interface WebhookWorkerOptions {
  db: Db;
  guard: WebhookUrlGuard;
  signal: EventSignal;
  logger: Logger;
  metrics?: Metrics | undefined;
  /** Seconds before each retry. */
  schedule: readonly number[];
  /** How long a receiver may take to answer. */
  timeoutMs: number;
  /** Deliveries sent at once by this process. */
  concurrency?: number;
  /** How often due retries are looked for when nothing wakes the worker. */
  pollMs?: number;
}

/**
 * The delivery worker of one process. It claims due deliveries (a short statement that commits
 * by itself), sends them without holding a database connection (on kept-alive connections to the
 * receivers), and records their outcomes, those that finish together in one statement. It wakes when deliveries are queued (by this process or, on PostgreSQL, any
 * other) and polls for retries that fall due. Several workers share the queue: each claimed row
 * carries a lease longer than a delivery can take, so no two send it at once.
 */
export class WebhookWorker {
  private readonly inFlight = new Map<string, { done: Promise<void>; abort: AbortController }>();
  private readonly concurrency: number;
  private readonly leaseMs: number;
  private running: Promise<void> | undefined;
  private again = false;
  private stopping = false;
  private poll: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private readonly connections: DeliveryConnections;
  /** Outcomes waiting to be recorded while a recording is under way (see `record`). */
  private readonly unrecorded: {
    outcome: DeliveryOutcome;
    done: (error?: Error) => void;
  }[] = [];
  private recording = false;

  constructor(private readonly options: WebhookWorkerOptions) {
    this.concurrency = options.concurrency ?? 16;
    // Longer than a send can take (its timeout), with room for recording the outcome. A worker
    // that dies leaves its deliveries to others once the lease ends.
    this.leaseMs = 2 * options.timeoutMs + 5_000;
    this.connections = new DeliveryConnections({ maxPerReceiver: this.concurrency });
  }

  start(): void {
    this.unsubscribe = this.options.signal.onDeliveries(() => this.kick());
    this.poll = setInterval(() => this.kick(), this.options.pollMs ?? 1000);
    this.poll.unref();
    this.kick();
  }

  /** Looks for due deliveries now (again after the current pass, if one is running). */
  kick(): void {
    if (this.stopping) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.pass()
      .catch((error: unknown) =>
        this.options.logger.warn(
          { err: (error as Error).message },
          'webhook worker: could not claim deliveries; trying again shortly',
        ),
      )
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  private async pass(): Promise<void> {
    while (!this.stopping) {
      const free = this.concurrency - this.inFlight.size;
      if (free <= 0) {
        // A slot frees when a send ends, and that kicks again.
        return;
      }
      const claimed = await claimDueDeliveries(this.options.db, free, this.leaseMs);
      if (claimed.length === 0) return;
      if (this.stopping) {
        await releaseDeliveries(
          this.options.db,
          claimed.map((c) => ({ endpointId: c.endpoint_id, eventId: c.event_id })),
        );
        return;
      }
      for (const delivery of claimed) this.track(delivery);
    }
  }

  private track(delivery: ClaimedDelivery) {
    const key = `${delivery.endpoint_id} ${delivery.event_id}`;
    const abort = new AbortController();
    const done = this.deliver(delivery, abort.signal)
      .catch((error: unknown) =>
        this.options.logger.warn(
          { err: (error as Error).message, endpointId: delivery.endpoint_id },
          'webhook worker: could not record a delivery; it is sent again when its lease ends',
        ),
      )
      .finally(() => {
        this.inFlight.delete(key);
        this.kick();
      });
    this.inFlight.set(key, { done, abort });
  }

  private async deliver(delivery: ClaimedDelivery, signal: AbortSignal): Promise<void> {
    const startedAt = new Date();
    const occurredAt = delivery.event?.occurred_at ?? delivery.created_at;
    const body = JSON.stringify({
      type: delivery.event_type,
      timestamp: new Date(occurredAt).toISOString(),
      data: delivery.event ? toAuditEvent(delivery.event) : delivery.payload,
    });
    const previousValid =
      delivery.previous_secret !== null &&
      delivery.previous_secret_expires_at !== null &&
      new Date(delivery.previous_secret_expires_at).getTime() > startedAt.getTime();
    const headers = signedHeaders(delivery.event_id, startedAt, body, {
      current: delivery.secret,
      previous: previousValid ? delivery.previous_secret! : undefined,
    });
    const result = await sendDelivery(
      this.options.guard,
      delivery.url,
      headers,
      body,
      this.options.timeoutMs,
      signal,
      this.connections,
    );
    if (signal.aborted) {
      // Cut by a stop: not the receiver's failure. Give the delivery back for the next worker.
      await releaseDeliveries(this.options.db, [
        { endpointId: delivery.endpoint_id, eventId: delivery.event_id },
      ]);
      return;
    }
    const outcome = outcomeOf(
      {
        endpointId: delivery.endpoint_id,
        eventId: delivery.event_id,
        retries: delivery.retries,
        failingSince: delivery.failing_since ? new Date(delivery.failing_since) : null,
      },
      result,
      startedAt,
      this.options.schedule,
    );
    await this.record(outcome);
    this.options.metrics?.webhookDelivered(
      outcome.status === 'succeeded'
        ? 'succeeded'
        : outcome.status === 'failed'
          ? 'failed'
          : 'retrying',
    );
    if (outcome.disable) {
      this.options.logger.warn(
        { endpointId: delivery.endpoint_id, reason: outcome.disable },
        'webhook endpoint disabled',
      );
    }
  }

  /**
   * Records an outcome: at once when no recording is under way, else together with those that
   * finish meanwhile, in the next statement (one statement for many deliveries, not one each).
   * Resolves once it is recorded; rejects, with the others of its statement, if that fails.
   */
  private record(outcome: DeliveryOutcome): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.unrecorded.push({ outcome, done: (error) => (error ? reject(error) : resolve()) });
      if (!this.recording) void this.recordWaiting();
    });
  }

  private async recordWaiting(): Promise<void> {
    this.recording = true;
    while (this.unrecorded.length > 0) {
      const taken = this.unrecorded.splice(0, RECORDED_AT_ONCE);
      const outcomes = taken.map((t) => t.outcome);
      try {
        await recordOutcomes(this.options.db, outcomes, endpointsAfter(outcomes));
        for (const t of taken) t.done();
      } catch (error) {
        const failure = error instanceof Error ? error : new Error(String(error));
        for (const t of taken) t.done(failure);
      }
    }
    this.recording = false;
  }

  /** Sends in flight (for tests and the shutdown log). */
  get busy(): number {
    return this.inFlight.size;
  }

  /**
   * Stops claiming, and waits for the deliveries in flight to finish and be recorded, for at
   * most `deadlineMs`; those still running then are cut and given back (sent again by the next
   * worker that claims them).
   */
  async stop(deadlineMs: number): Promise<{ finished: number; cut: number }> {
    this.stopping = true;
    clearInterval(this.poll);
    this.unsubscribe?.();
    await this.running;
    const pending = [...this.inFlight.values()];
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'deadline'>((resolve) => {
      timer = setTimeout(() => resolve('deadline'), deadlineMs);
    });
    const all = Promise.all(pending.map((p) => p.done)).then(() => 'done' as const);
    const first = await Promise.race([all, deadline]);
    clearTimeout(timer);
    let cut = 0;
    if (first === 'deadline') {
      cut = this.inFlight.size;
      for (const { abort } of this.inFlight.values()) abort.abort();
      await Promise.all([...this.inFlight.values()].map((p) => p.done));
    }
    this.connections.close();
    return { finished: pending.length - cut, cut };
  }
}
