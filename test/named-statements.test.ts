import { describe, expect, test } from '@jest/globals';
import type pg from 'pg';
import { nameWhenFrequent, prepareNamedStatements } from '../server/storage/named-statements.js';

/** What a pg client with named statements sends for a text: its name, or the text alone. */
function sentAs(sql: string): string | undefined {
  let sent: unknown;
  const client = {
    query: (config: unknown) => {
      sent = config;
    },
  } as unknown as pg.PoolClient;
  prepareNamedStatements(client);
  void client.query(sql, []);
  return typeof sent === 'object' && sent !== null ? (sent as { name: string }).name : undefined;
}

describe('writes become named statements once frequent, up to a bound', () => {
  test('a text is prepared from its third run on; once or twice is not enough', () => {
    const text = 'update memberships set role_id = $1 where org_id = $2 and user_id = $3';
    nameWhenFrequent(text);
    nameWhenFrequent(text);
    expect(sentAs(text)).toBeUndefined();
    nameWhenFrequent(text);
    expect(sentAs(text)).toMatch(/^mr_[0-9a-f]{24}$/);
  });

  test('a write answering `returning *` is never named: a column added later would break it', () => {
    const text = 'update organizations set name = $1 where id = $2 returning *';
    for (let run = 0; run < 5; run += 1) nameWhenFrequent(text);
    expect(sentAs(text)).toBeUndefined();
  });

  test('at most 500 texts are named: texts that vary with the data cannot fill the server', () => {
    const texts = Array.from(
      { length: 600 },
      (_, i) => `insert into t values ${'($1),'.repeat(i)}($1)`,
    );
    for (const text of texts) for (let run = 0; run < 3; run += 1) nameWhenFrequent(text);
    const named = texts.filter((text) => sentAs(text) !== undefined);
    // The test before may have named one text already.
    expect(named.length).toBeGreaterThanOrEqual(499);
    expect(named.length).toBeLessThanOrEqual(500);
    expect(sentAs(texts[0]!)).toBeDefined();
    expect(sentAs(texts[599]!)).toBeUndefined();
  });
});
