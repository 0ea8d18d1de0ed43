import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, test } from '@jest/globals';
import { DeliveryConnections, sendDelivery } from '../server/infra/webhook-sender.js';
import { WebhookUrlGuard } from '../server/infra/webhook-url.js';

// A receiver on 127.0.0.1 that counts the connections it is sent on. The guard allows private
// addresses (as MEMBER_ROLES_WEBHOOK_ALLOW_PRIVATE=1 does), and for `rebinding.test` answers an
// address from a table (no real resolver is asked).

interface Receiver {
  url: string;
  connections: Socket[];
  requests: number;
  server: Server;
}

const started: Receiver[] = [];
const pools: DeliveryConnections[] = [];

async function receiver(
  answer: (req: IncomingMessage, res: ServerResponse, index: number) => void,
): Promise<Receiver> {
  const connections: Socket[] = [];
  const state = { requests: 0 };
  const server = createServer((req, res) => {
    const index = state.requests++;
    req.resume();
    req.on('end', () => answer(req, res, index));
  });
  server.on('connection', (socket) => connections.push(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const made = {
    url: `http://127.0.0.1:${port}/hook`,
    connections,
    server,
    get requests() {
      return state.requests;
    },
  };
  started.push(made);
  return made;
}

function pool() {
  const connections = new DeliveryConnections({ maxPerReceiver: 4 });
  pools.push(connections);
  return connections;
}

const answer204 = (_req: IncomingMessage, res: ServerResponse) => {
  res.statusCode = 204;
  res.end();
};

const guard = (table: Record<string, string> = {}) =>
  new WebhookUrlGuard({
    allowPrivate: true,
    resolve: (host) => {
      const address = table[host];
      return address === undefined
        ? Promise.reject(new Error('ENOTFOUND'))
        : Promise.resolve([{ address, family: 4 as const }]);
    },
  });

const send = (url: string, connections?: DeliveryConnections, check = guard()) =>
  sendDelivery(
    check,
    url,
    { 'webhook-id': 'evt_1' },
    '{"type":"test"}',
    2000,
    undefined,
    connections,
  );

afterEach(async () => {
  for (const connections of pools.splice(0)) connections.close();
  for (const { server } of started.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

describe('deliveries keep their connection to a receiver', () => {
  test('ten deliveries in a row to one receiver travel on one connection', async () => {
    const target = await receiver(answer204);
    const connections = pool();
    for (let i = 0; i < 10; i += 1) {
      await expect(send(target.url, connections)).resolves.toMatchObject({
        outcome: 'succeeded',
        status: 204,
      });
    }
    expect(target.requests).toBe(10);
    expect(target.connections).toHaveLength(1);
  });

  test('without kept connections each delivery opens its own (what the pool saves)', async () => {
    const target = await receiver(answer204);
    for (let i = 0; i < 3; i += 1) await send(target.url);
    expect(target.connections).toHaveLength(3);
  });

  test('a kept connection the receiver closed as it was reused is not a failed delivery: it is sent once more on a new connection', async () => {
    // The receiver answers the first request, then drops the connection the second arrives on
    // without answering, as a server whose keep-alive ran out at that moment does.
    const target = await receiver((req, res, index) => {
      if (index === 1) req.socket.destroy();
      else answer204(req, res);
    });
    const connections = pool();
    await expect(send(target.url, connections)).resolves.toMatchObject({ outcome: 'succeeded' });
    await expect(send(target.url, connections)).resolves.toMatchObject({
      outcome: 'succeeded',
      status: 204,
    });
    expect(target.requests).toBe(3);
    expect(target.connections).toHaveLength(2);
  });

  test('a new connection that fails is the receiver being unreachable, not sent twice', async () => {
    const target = await receiver((req) => req.socket.destroy());
    await expect(send(target.url, pool())).resolves.toMatchObject({
      outcome: 'unreachable',
      status: null,
    });
    expect(target.requests).toBe(1);
  });

  test('a connection belongs to the address it was opened to: a name checked to another address gets its own', async () => {
    const first = await receiver(answer204);
    const second = await receiver(answer204);
    const connections = pool();
    const port = (r: Receiver) => new URL(r.url).port;
    // Two names on 127.0.0.1 and 127.0.0.2 would need two interfaces; two ports show the same
    // keying: the pool is keyed by the checked address and port, never by the name alone.
    const check = guard({ 'receiver.test': '127.0.0.1' });
    await send(`http://receiver.test:${port(first)}/hook`, connections, check);
    await send(`http://receiver.test:${port(second)}/hook`, connections, check);
    await send(`http://receiver.test:${port(first)}/hook`, connections, check);
    expect([first.requests, first.connections.length]).toEqual([2, 1]);
    expect([second.requests, second.connections.length]).toEqual([1, 1]);
  });

  test('the request names the URL’s host, and goes to the address the guard checked', async () => {
    let host: string | undefined;
    const target = await receiver((req, res) => {
      host = req.headers.host;
      answer204(req, res);
    });
    const port = new URL(target.url).port;
    const check = guard({ 'hooks.receiver.test': '127.0.0.1' });
    await expect(
      send(`http://hooks.receiver.test:${port}/hook`, pool(), check),
    ).resolves.toMatchObject({ outcome: 'succeeded' });
    expect(host).toBe(`hooks.receiver.test:${port}`);
  });
});
