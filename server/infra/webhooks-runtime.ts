import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { DatabaseHandle } from '../storage/database.js';
import { queueState } from '../storage/webhooks.repository.js';
import { EventSignal, listenForEvents } from './event-signal.js';
import type { Metrics } from './metrics.js';
import { WebhookUrlGuard } from './webhook-url.js';
import { WebhookWorker } from './webhook-worker.js';

export interface WebhooksRuntime {
  /** The URL guard endpoints are saved through (and every delivery goes through). */
  guard: WebhookUrlGuard;
  /** Committed events: wakes held `listEvents` requests and the worker. */
  signal: EventSignal;
  /** The delivery worker, unless MEMBER_ROLES_WEBHOOK_DELIVERY=0. */
  worker: WebhookWorker | undefined;
  /**
   * Answers the held `listEvents` requests, stops claiming, and waits up to `deadlineMs` for the
   * deliveries in flight (those still running then are given back, to be sent again).
   */
  stop(deadlineMs: number): Promise<{ finished: number; cut: number }>;
}

/**
 * The webhook machinery of one process: the URL guard, the event signal (with, on PostgreSQL, a
 * listening connection that hears every process's commits), the delivery worker and its metrics.
 */
export function startWebhooks(
  config: Config,
  database: DatabaseHandle,
  logger: Logger,
  metrics: Metrics,
): WebhooksRuntime {
  const guard = new WebhookUrlGuard({
    allowPrivate: config.webhookAllowPrivate,
    resolve: config.webhookResolver,
  });
  const signal = new EventSignal();
  const listener =
    database.engine === 'postgres' && config.databaseUrl
      ? listenForEvents(config.databaseUrl, signal, logger)
      : undefined;
  metrics.watchWebhookQueue(async () => (await queueState(database.db)).depth);
  const worker = config.webhookDelivery
    ? new WebhookWorker({
        db: database.db,
        guard,
        signal,
        logger,
        metrics,
        schedule: config.webhookRetrySchedule,
        timeoutMs: config.webhookTimeoutMs,
      })
    : undefined;
  worker?.start();
  let stopping: Promise<{ finished: number; cut: number }> | undefined;
  return {
    guard,
    signal,
    worker,
    stop: (deadlineMs) =>
      (stopping ??= (async () => {
        signal.close();
        const result = (await worker?.stop(deadlineMs)) ?? { finished: 0, cut: 0 };
        await listener?.stop();
        return result;
      })()),
  };
}
