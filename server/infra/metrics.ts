import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** How the database's connection pool stands (PostgreSQL; PGlite has one session, no pool). */
export interface PoolStats {
  max: number;
  total: number;
  idle: number;
  waiting: number;
}

/**
 * The service's Prometheus metrics, in a registry of its own (not prom-client's global one, so
 * two services in one process never share counts): request durations by operation and status,
 * the database pool, rate-limit refusals, and Node's process metrics.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly durations: Histogram<'operation' | 'method' | 'status'>;
  /** The histogram's series by operation, method and status (prom-client hashes labels each call). */
  private readonly series = new Map<string, { observe(seconds: number): void }>();
  private readonly refusals: Counter<'credential'>;
  private readonly deliveries: Counter<'outcome'>;

  constructor(pool: (() => PoolStats) | undefined) {
    collectDefaultMetrics({ register: this.registry });
    this.durations = new Histogram({
      name: 'member_roles_http_request_duration_seconds',
      help: 'Time from receiving a request to sending its answer, by operationId (or "none" when no operation matched), method and status.',
      labelNames: ['operation', 'method', 'status'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [this.registry],
    });
    this.refusals = new Counter({
      name: 'member_roles_rate_limited_total',
      help: 'Requests refused with 429 RATE_LIMITED, by kind of credential.',
      labelNames: ['credential'],
      registers: [this.registry],
    });
    this.deliveries = new Counter({
      name: 'member_roles_webhook_deliveries_total',
      help: 'Webhook delivery attempts made by this process, by outcome: succeeded (2xx), retrying (failed, another attempt is due), failed (given up, or 410 Gone).',
      labelNames: ['outcome'],
      registers: [this.registry],
    });
    for (const outcome of ['succeeded', 'retrying', 'failed']) this.deliveries.inc({ outcome }, 0);
    if (pool) {
      const gauge = (name: string, help: string, read: (s: PoolStats) => number) =>
        new Gauge({
          name,
          help,
          registers: [this.registry],
          collect() {
            this.set(read(pool()));
          },
        });
      gauge(
        'member_roles_db_pool_max',
        'Connections the pool may open (DATABASE_POOL_SIZE).',
        (s) => s.max,
      );
      gauge('member_roles_db_pool_connections', 'Connections open to PostgreSQL.', (s) => s.total);
      gauge('member_roles_db_pool_idle', 'Open connections not in use.', (s) => s.idle);
      gauge(
        'member_roles_db_pool_waiting',
        'Requests waiting for a free connection.',
        (s) => s.waiting,
      );
    }
  }

  requestFinished(operation: string | undefined, method: string, status: number, seconds: number) {
    const key = `${operation ?? 'none'} ${method} ${status}`;
    let series = this.series.get(key);
    if (series === undefined) {
      series = this.durations.labels({
        operation: operation ?? 'none',
        method,
        status: String(status),
      });
      this.series.set(key, series);
    }
    series.observe(seconds);
  }

  webhookDelivered(outcome: 'succeeded' | 'retrying' | 'failed') {
    this.deliveries.inc({ outcome });
  }

  /** The webhook queue's depth, read from the database at each scrape (shared by all processes). */
  watchWebhookQueue(depth: () => Promise<number>) {
    new Gauge({
      name: 'member_roles_webhook_queue_depth',
      help: 'Webhook deliveries pending for enabled endpoints (due now or waiting for a retry), in the whole deployment.',
      registers: [this.registry],
      async collect() {
        try {
          this.set(await depth());
        } catch {
          // The database is away: the gauge keeps its last value.
        }
      },
    });
  }

  rateLimited(credential: string) {
    this.refusals.inc({ credential });
  }

  /** The exposition text and its content type. */
  async exposition(): Promise<{ text: string; contentType: string }> {
    return { text: await this.registry.metrics(), contentType: this.registry.contentType };
  }
}
