// A local webhook receiver for the bench: answers every delivery 204 at once and keeps the time
// each one arrived, so the bench can say how fast deliveries reach a receiver; or, while told to
// refuse, answers 503 with Retry-After, to build a backlog that falls due at once.
import { createServer } from 'node:http';

export async function startWebhookSink() {
  const arrivals = [];
  const state = { refuse: false };
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (state.refuse) {
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
  return {
    url: `http://127.0.0.1:${port}/hook`,
    arrivals,
    /** While true, every delivery is answered 503 with Retry-After: 3 (and not counted). */
    set refuse(value) {
      state.refuse = value;
    },
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
