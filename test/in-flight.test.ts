import { Socket } from 'node:net';
import { IncomingMessage, ServerResponse } from 'node:http';
import { describe, expect, test } from '@jest/globals';
import { InFlight } from '../server/http/server.js';

const answer = () => new ServerResponse(new IncomingMessage(new Socket()));

describe('answers in flight (what a drain waits for and tells to close their connection)', () => {
  test('an answer that finishes leaves every other one listed, and finishing twice changes nothing', () => {
    const inFlight = new InFlight();
    const [a, b, c, d] = [answer(), answer(), answer(), answer()];
    for (const res of [a, b, c, d]) inFlight.add(res);
    inFlight.remove(b);
    expect(inFlight.size).toBe(3);
    expect(new Set(inFlight.all())).toEqual(new Set([a, c, d]));
    inFlight.remove(b);
    inFlight.remove(a);
    expect(new Set(inFlight.all())).toEqual(new Set([c, d]));
    inFlight.remove(d);
    inFlight.remove(c);
    expect(inFlight.size).toBe(0);
    inFlight.add(b);
    expect(inFlight.all()).toEqual([b]);
  });

  test('finishing answers while going through them (a drain setting Connection: close) skips none of the others', () => {
    const inFlight = new InFlight();
    const answers = [answer(), answer(), answer()];
    for (const res of answers) inFlight.add(res);
    const seen: ServerResponse[] = [];
    for (const res of inFlight.all()) {
      seen.push(res);
      inFlight.remove(res);
    }
    expect(seen).toEqual(answers);
    expect(inFlight.size).toBe(0);
  });
});
