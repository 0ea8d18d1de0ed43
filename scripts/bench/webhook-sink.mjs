// A local webhook receiver for the bench, in a process of its own (receiving ~1,000 webhooks a
// second in the load generator's process would slow the load generator, and so the case it
// measures): answers every delivery 204 at once and keeps the time each one arrived, so the bench
// can say how fast deliveries reach a receiver; or, while told to refuse, answers 503 with
// Retry-After, to build a backlog that falls due at once.
import { fork } from 'node:child_process';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';

/** Starts the receiver's process; its methods ask it over the IPC channel. */
export async function startWebhookSink() {
  const child = fork(fileURLToPath(import.meta.url), ['--serve'], { stdio: 'inherit' });
  const waiting = [];
  child.on('message', (message) => waiting.shift()?.(message));
  const ask = (message) =>
    new Promise((resolve) => {
      waiting.push(resolve);
      child.send(message);
    });
  const { url } = await ask({ type: 'url' });
  return {
    url,
    /** When each delivery answered 204 arrived (ms since the epoch), in order. */
    arrivals: async () => (await ask({ type: 'arrivals' })).arrivals,
    /** While true, every delivery is answered 503 with Retry-After: 3 (and not counted). */
    refuse: (value) => ask({ type: 'refuse', value }),
    stop: async () => {
      await ask({ type: 'stop' });
      child.disconnect();
    },
  };
}

async function serve() {
  const arrivals = [];
  let refuse = false;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (refuse) {
        // Busy: come back in 3 s (so that a backlog falls due at once).
        res.statusCode = 503;
        res.setHeader('Retry-After', '3');
        res.end();
        return;
      }
      arrivals.push(Date.now());
      res.statusCode = 204;
      res.end();
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  process.on('message', (message) => {
    if (message.type === 'url') process.send({ url: `http://127.0.0.1:${port}/hook` });
    else if (message.type === 'arrivals') process.send({ arrivals });
    else if (message.type === 'refuse') {
      refuse = message.value;
      process.send({});
    } else if (message.type === 'stop') {
      server.closeAllConnections();
      server.close(() => process.send({}));
    }
  });
  // The bench ended (or died): nothing keeps this process.
  process.on('disconnect', () => process.exit(0));
}

if (process.argv.includes('--serve')) await serve();
