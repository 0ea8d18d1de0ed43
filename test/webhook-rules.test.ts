import { describe, expect, test } from '@jest/globals';
import {
  endpointsAfter,
  outcomeOf,
  type AttemptResult,
} from '../server/domain/webhook-delivery.js';
import { isForbiddenAddress, WebhookUrlGuard } from '../server/infra/webhook-url.js';

const failed = (status: number | null, retryAfterSeconds?: number): AttemptResult => ({
  outcome: status === null ? 'unreachable' : 'failed',
  status,
  body: null,
  durationMs: 10,
  retryAfterSeconds,
});
const at = new Date('2026-11-22T10:00:00Z');
const delivery = { endpointId: 'whe_1', eventId: 'evt_1', retries: 0, failingSince: null };
const schedule = [5, 300, 1800];

describe('what an attempt means (retry schedule, Retry-After, 410, 24 hours of failures)', () => {
  test('a failure is tried again after the next delay of the schedule, until it is spent', () => {
    const first = outcomeOf(delivery, failed(500), at, schedule);
    expect(first).toMatchObject({ status: 'pending', retries: 1, disable: null });
    expect(first.nextAttemptAt!.getTime() - at.getTime()).toBe(10 + 5_000);
    const third = outcomeOf({ ...delivery, retries: 2 }, failed(null), at, schedule);
    expect(third.nextAttemptAt!.getTime() - at.getTime()).toBe(10 + 1_800_000);
    const spent = outcomeOf({ ...delivery, retries: 3 }, failed(500), at, schedule);
    expect(spent).toMatchObject({ status: 'failed', nextAttemptAt: null });
  });

  test("the receiver's Retry-After replaces the schedule's delay (up to a day)", () => {
    const asked = outcomeOf(delivery, failed(429, 120), at, schedule);
    expect(asked.nextAttemptAt!.getTime() - at.getTime()).toBe(10 + 120_000);
    const greedy = outcomeOf(delivery, failed(503, 10 ** 9), at, schedule);
    expect(greedy.nextAttemptAt!.getTime() - at.getTime()).toBe(10 + 86_400_000);
  });

  test('410 Gone fails the delivery and disables the endpoint at once', () => {
    expect(outcomeOf(delivery, failed(410), at, schedule)).toMatchObject({
      status: 'failed',
      disable: 'The receiver answered 410 Gone.',
    });
  });

  test('an endpoint failing everything for 24 hours is disabled with the reason; a success ends the streak', () => {
    const since = new Date(at.getTime() - 24 * 3600 * 1000);
    const tooLong = outcomeOf({ ...delivery, failingSince: since }, failed(500), at, schedule);
    expect(tooLong.disable).toBe('Every delivery has failed for 24 hours.');
    expect(tooLong.failingSince).toEqual(since);
    const notYet = new Date(at.getTime() - 23 * 3600 * 1000);
    expect(
      outcomeOf({ ...delivery, failingSince: notYet }, failed(500), at, schedule).disable,
    ).toBeNull();
    expect(outcomeOf(delivery, failed(500), at, schedule).failingSince).toEqual(at);
    const ok = outcomeOf(
      { ...delivery, failingSince: since },
      {
        outcome: 'succeeded',
        status: 204,
        body: null,
        durationMs: 5,
        retryAfterSeconds: undefined,
      },
      at,
      schedule,
    );
    expect(ok).toMatchObject({ status: 'succeeded', failingSince: null, disable: null });
  });
});

describe('attempts recorded together leave each endpoint as if recorded one by one', () => {
  const tried = (
    endpointId: string,
    seconds: number,
    result: AttemptResult,
    failingSince: Date | null = null,
  ) =>
    outcomeOf(
      { endpointId, eventId: `evt_${seconds}`, retries: 0, failingSince },
      result,
      new Date(at.getTime() + seconds * 1000),
      schedule,
    );
  const ok: AttemptResult = { ...failed(204), outcome: 'succeeded', status: 204 };
  const since = new Date('2026-11-22T09:00:00Z');

  test('a success after failures ends the streak; a failure after a success starts a new one from that failure', () => {
    const [endsIt] = endpointsAfter([tried('whe_a', 2, ok), tried('whe_a', 1, failed(500), since)]);
    expect(endsIt).toEqual({
      endpointId: 'whe_a',
      restarted: true,
      failingSince: null,
      disable: null,
    });
    const [startsAgain] = endpointsAfter([
      tried('whe_a', 1, failed(500), since),
      tried('whe_a', 2, ok),
      tried('whe_a', 4, failed(503)),
      tried('whe_a', 3, failed(500)),
    ]);
    expect(startsAgain).toMatchObject({ restarted: true, disable: null });
    expect(startsAgain!.failingSince).toEqual(new Date(at.getTime() + 3_000));
  });

  test('failures only: the streak keeps its start if it had one, else starts at the first of them', () => {
    const [only] = endpointsAfter([tried('whe_a', 5, failed(500)), tried('whe_a', 1, failed(500))]);
    expect(only).toEqual({
      endpointId: 'whe_a',
      restarted: false,
      failingSince: new Date(at.getTime() + 1_000),
      disable: null,
    });
  });

  test('each endpoint is its own; a 410 among them disables its endpoint whatever else happened', () => {
    const states = endpointsAfter([
      tried('whe_a', 1, failed(410)),
      tried('whe_a', 2, ok),
      tried('whe_b', 1, ok),
    ]);
    expect(states).toEqual([
      {
        endpointId: 'whe_a',
        restarted: true,
        failingSince: null,
        disable: 'The receiver answered 410 Gone.',
      },
      { endpointId: 'whe_b', restarted: true, failingSince: null, disable: null },
    ]);
  });
});

describe('addresses a delivery may not go to', () => {
  test.each([
    '127.0.0.1',
    '10.0.0.1',
    '172.16.5.4',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '224.0.0.1',
    '::1',
    '::',
    'fe80::1',
    'fd00:ec2::254',
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
    '64:ff9b::a00:1',
  ])('%s is refused', (address) => {
    expect(isForbiddenAddress(address)).toBe(true);
  });

  test.each(['93.184.215.14', '8.8.8.8', '2606:4700:4700::1111', '::ffff:8.8.8.8'])(
    '%s is allowed',
    (address) => {
      expect(isForbiddenAddress(address)).toBe(false);
    },
  );

  test('a name is refused when any of its addresses is private; credentials in the URL are refused', async () => {
    const guard = new WebhookUrlGuard({
      allowPrivate: false,
      resolve: () =>
        Promise.resolve([
          { address: '93.184.215.14', family: 4 },
          { address: '10.0.0.7', family: 4 },
        ]),
    });
    expect(await guard.check('https://mixed.example/hook')).toMatchObject({ ok: false });
    expect(await guard.check('https://user:pw@93.184.215.14/hook')).toMatchObject({ ok: false });
    expect(await guard.check('https://93.184.215.14/hook')).toMatchObject({
      ok: true,
      address: '93.184.215.14',
    });
  });
});
