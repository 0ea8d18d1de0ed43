import type { DeliveryOutcome, EndpointState } from '../storage/webhooks.repository.js';

/** Retries after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h (seconds). */
export const DEFAULT_RETRY_SCHEDULE: readonly number[] = [5, 300, 1800, 7200, 18000, 36000, 36000];

/** An endpoint failing every delivery for this long is disabled. */
export const FAILING_FOR_MS = 24 * 60 * 60 * 1000;

/** Retry-After is honoured up to a day. */
const MAX_RETRY_AFTER_SECONDS = 24 * 60 * 60;

export interface AttemptResult {
  outcome: 'succeeded' | 'failed' | 'timeout' | 'unreachable' | 'refused';
  status: number | null;
  body: string | null;
  durationMs: number;
  retryAfterSeconds: number | undefined;
}

export interface AttemptedDelivery {
  endpointId: string;
  eventId: string;
  /** Failed attempts since the schedule (re)started. */
  retries: number;
  /** When the endpoint's current run of failures began (null: its last delivery succeeded). */
  failingSince: Date | null;
}

/**
 * What an attempt means for the delivery and its endpoint (api.md, "Webhooks"): only 2xx is
 * success; otherwise the next try follows the retry schedule, or the receiver's `Retry-After`
 * when it sent one; when the schedule is spent the delivery has failed. `410 Gone` disables the
 * endpoint at once; an endpoint whose deliveries have all failed for 24 hours is disabled with
 * the reason.
 */
export function outcomeOf(
  delivery: AttemptedDelivery,
  result: AttemptResult,
  startedAt: Date,
  schedule: readonly number[],
): DeliveryOutcome {
  const now = new Date(startedAt.getTime() + result.durationMs);
  const attempt = {
    attempted_at: startedAt,
    outcome: result.outcome,
    response_status: result.status,
    duration_ms: result.durationMs,
    response_body: result.body,
  };
  const base = { endpointId: delivery.endpointId, eventId: delivery.eventId, attempt };
  if (result.outcome === 'succeeded') {
    return {
      ...base,
      status: 'succeeded',
      nextAttemptAt: null,
      retries: delivery.retries,
      disable: null,
      failingSince: null,
    };
  }
  const failingSince = delivery.failingSince ?? startedAt;
  if (result.status === 410) {
    return {
      ...base,
      status: 'failed',
      nextAttemptAt: null,
      retries: delivery.retries,
      disable: 'The receiver answered 410 Gone.',
      failingSince,
    };
  }
  const failingTooLong = now.getTime() - failingSince.getTime() >= FAILING_FOR_MS;
  const disable = failingTooLong ? 'Every delivery has failed for 24 hours.' : null;
  const delay = schedule[delivery.retries];
  if (delay === undefined) {
    return {
      ...base,
      status: 'failed',
      nextAttemptAt: null,
      retries: delivery.retries,
      disable,
      failingSince,
    };
  }
  const seconds =
    result.retryAfterSeconds !== undefined
      ? Math.min(result.retryAfterSeconds, MAX_RETRY_AFTER_SECONDS)
      : delay;
  return {
    ...base,
    status: 'pending',
    nextAttemptAt: new Date(now.getTime() + seconds * 1000),
    retries: delivery.retries + 1,
    disable,
    failingSince,
  };
}

/**
 * The endpoints' state after attempts recorded together, as if each were recorded alone in the
 * order they were tried: a success clears the failing streak, a failure starts it if unset, and
 * any disabling disables.
 */
export function endpointsAfter(outcomes: readonly DeliveryOutcome[]): EndpointState[] {
  const tried = (o: DeliveryOutcome) => new Date(o.attempt.attempted_at).getTime();
  const ordered = [...outcomes].sort((a, b) => tried(a) - tried(b));
  const byEndpoint = new Map<string, EndpointState>();
  for (const outcome of ordered) {
    const state = byEndpoint.get(outcome.endpointId) ?? {
      endpointId: outcome.endpointId,
      restarted: false,
      failingSince: null,
      disable: null,
    };
    if (outcome.failingSince === null) {
      state.restarted = true;
      state.failingSince = null;
    } else {
      state.failingSince ??= outcome.failingSince;
    }
    state.disable ??= outcome.disable;
    byEndpoint.set(outcome.endpointId, state);
  }
  return [...byEndpoint.values()];
}
