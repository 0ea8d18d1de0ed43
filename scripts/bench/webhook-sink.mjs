// A local webhook receiver for the bench: answers every delivery 204 at once and keeps the time
// each one arrived, so the bench can say how fast deliveries reach a receiver.
import { createServer } from 'node:http';

export async function startWebhookSink() {
  const arrivals = [];
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
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
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
