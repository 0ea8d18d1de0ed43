import { EventEmitter } from 'node:events';
import pg from 'pg';
import type { Logger } from 'pino';

/** The channel the audit events' trigger notifies (with the organization's id) on commit. */
export const EVENTS_CHANNEL = 'member_roles_events';
/** The channel the webhook deliveries' trigger notifies when deliveries are queued. */
export const DELIVERIES_CHANNEL = 'member_roles_deliveries';

/**
 * Tells whoever waits that an organization's events were committed: the held `listEvents`
 * requests and the delivery worker. In one process it is told directly by the unit of work; on
 * PostgreSQL every process is also told by `LISTEN` (see `listenForEvents`), so a change made by
 * another process wakes this one's waiters too.
 */
export class EventSignal {
  private readonly emitter = new EventEmitter().setMaxListeners(0);
  private closed = false;

  /** Events of `orgId` were committed (`*`: of any organization, or perhaps missed). */
  notify(orgId: string): void {
    this.emitter.emit('events', orgId);
  }

  /** Webhook deliveries were queued (by this process, or any on PostgreSQL). */
  notifyDeliveries(): void {
    this.emitter.emit('deliveries');
  }

  /** Calls `listener` whenever deliveries are queued; returns the unsubscribe. */
  onDeliveries(listener: () => void): () => void {
    this.emitter.on('deliveries', listener);
    return () => this.emitter.off('deliveries', listener);
  }

  /**
   * Resolves when events of `orgId` are committed, when `ms` have passed, or when the signal
   * closes (a stopping service answers its held requests at once).
   */
  wait(orgId: string, ms: number): Promise<'events' | 'timeout' | 'closed'> {
    if (this.closed) return Promise.resolve('closed');
    if (ms <= 0) return Promise.resolve('timeout');
    return new Promise((resolve) => {
      const done = (why: 'events' | 'timeout' | 'closed') => {
        clearTimeout(timer);
        this.emitter.off('events', onEvents);
        this.emitter.off('close', onClose);
        resolve(why);
      };
      const onEvents = (id: string) => {
        if (id === orgId || id === '*') done('events');
      };
      const onClose = () => done('closed');
      const timer = setTimeout(() => done('timeout'), ms);
      this.emitter.on('events', onEvents);
      this.emitter.once('close', onClose);
    });
  }

  close(): void {
    this.closed = true;
    this.emitter.emit('close');
  }
}

/**
 * Listens on PostgreSQL for committed events, on a connection of its own (outside the pool: a
 * listening connection is never given back). A broken connection is made again after a second,
 * and everyone is woken then, since notifications may have been missed meanwhile.
 */
export function listenForEvents(
  url: string,
  signal: EventSignal,
  logger: Logger,
): { stop(): Promise<void> } {
  let client: pg.Client | undefined;
  let stopped = false;
  let retry: NodeJS.Timeout | undefined;

  const connect = async () => {
    if (stopped) return;
    const next = new pg.Client({
      connectionString: url,
      application_name: 'member-roles-events',
      keepAlive: true,
    });
    next.on('notification', (message) => {
      if (message.channel === DELIVERIES_CHANNEL) signal.notifyDeliveries();
      else signal.notify(message.payload ?? '*');
    });
    next.on('error', (error) => {
      logger.warn({ err: error.message }, 'the event listener lost its database connection');
      reconnect(next);
    });
    next.on('end', () => reconnect(next));
    try {
      await next.connect();
      await next.query(`listen ${EVENTS_CHANNEL}; listen ${DELIVERIES_CHANNEL}`);
      if (stopped) {
        await next.end().catch(() => undefined);
        return;
      }
      client = next;
      // Notifications may have been missed while there was no connection.
      signal.notify('*');
      signal.notifyDeliveries();
    } catch (error) {
      logger.warn({ err: (error as Error).message }, 'the event listener could not connect');
      reconnect(next);
    }
  };
  const reconnect = (broken: pg.Client) => {
    if (stopped || (client !== undefined && client !== broken) || retry) return;
    client = undefined;
    void broken.end().catch(() => undefined);
    retry = setTimeout(() => {
      retry = undefined;
      void connect();
    }, 1000);
    retry.unref();
  };
  void connect();
  return {
    stop: async () => {
      stopped = true;
      clearTimeout(retry);
      await client?.end().catch(() => undefined);
    },
  };
}
