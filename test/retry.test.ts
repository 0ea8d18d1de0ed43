import { describe, expect, test } from '@jest/globals';
import { withTransactionRetry } from '../server/storage/retry.js';

const failure = (code: string) => Object.assign(new Error(`sqlstate ${code}`), { code });

describe('transactions PostgreSQL aborts for contention are run again, a bounded number of times', () => {
  test('a serialization failure or a deadlock is retried until the transaction succeeds', async () => {
    const codes = ['40001', '40P01'];
    let calls = 0;
    const result = await withTransactionRetry(() => {
      calls += 1;
      const code = codes[calls - 1];
      return code ? Promise.reject(failure(code)) : Promise.resolve('done');
    });
    expect(result).toBe('done');
    expect(calls).toBe(3);
  });

  test('after the last attempt the failure surfaces', async () => {
    let calls = 0;
    await expect(
      withTransactionRetry(() => {
        calls += 1;
        return Promise.reject(failure('40001'));
      }, 3),
    ).rejects.toMatchObject({ code: '40001' });
    expect(calls).toBe(3);
  });

  test('any other failure is not retried', async () => {
    let calls = 0;
    await expect(
      withTransactionRetry(() => {
        calls += 1;
        return Promise.reject(failure('23505'));
      }),
    ).rejects.toMatchObject({ code: '23505' });
    expect(calls).toBe(1);
  });
});
