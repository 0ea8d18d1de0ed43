// One case under load: a warm-up run, then the measured run with the statements it caused.
import autocannon from 'autocannon';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs autocannon; every answer that is not 2xx is counted by status, the first one kept. */
async function run(kase, { url, seconds, connections }) {
  const failures = { byStatus: {}, first: undefined };
  const watch = (request) => ({
    ...request,
    onResponse(status, body) {
      if (status >= 200 && status < 300) return;
      failures.byStatus[status] = (failures.byStatus[status] ?? 0) + 1;
      failures.first ??= `${status} ${String(body).slice(0, 300)}`;
    },
  });
  const options = await kase.options(watch);
  const result = await autocannon({ url, connections, duration: seconds, ...options });
  return { result, failures };
}

/**
 * Requests still in flight when autocannon stops are answered by the server after the run:
 * wait until the statement count has not moved for half a second (at most 30 s) before reading.
 */
async function settledCount(counter) {
  let last = await counter.read();
  for (let waited = 0; last !== null && waited < 30_000; waited += 500) {
    await sleep(500);
    const now = await counter.read();
    if (now === last) break;
    last = now;
  }
  return last;
}

function failureOf({ result, failures }) {
  const refused = result.non2xx + result.errors + result.timeouts;
  if (refused === 0) return null;
  const statuses = Object.entries(failures.byStatus)
    .map(([status, count]) => `${status}: ${count}`)
    .join(', ');
  return (
    `${refused} of ${result.requests.sent} requests failed (non-2xx ${result.non2xx}` +
    `${statuses ? ` [${statuses}]` : ''}, connection errors ${result.errors}, ` +
    `timeouts ${result.timeouts})${failures.first ? `; first answer: ${failures.first}` : ''}`
  );
}

/**
 * Measures a case against `server` (a started child process): `warmup` seconds not counted,
 * then `seconds` measured. Statements per request divides the statements the database ran
 * during the measured run by the requests sent in it (each of which the server answers).
 */
export async function measure(kase, { server, counter, seconds, warmup, connections }) {
  const load = { url: server.url, connections };
  if (warmup > 0) {
    const warm = await run(kase, { ...load, seconds: warmup });
    const failure = failureOf(warm);
    if (failure) return { title: kase.title, failure: `during warm-up: ${failure}` };
    await counter.start(); // the warm-up's last requests finish before the measured run
    await settledCount(counter);
  }
  await counter.start();
  const measured = await run(kase, { ...load, seconds });
  const statements = await settledCount(counter);
  const { result } = measured;
  const answered = result.requests.total;
  return {
    title: kase.title,
    rps: result.requests.average,
    // No answer at all: every request took longer than the run; there is no latency to show.
    p50: answered > 0 ? result.latency.p50 : null,
    p99: answered > 0 ? result.latency.p99 : null,
    sent: result.requests.sent,
    answered,
    seconds,
    connections,
    statementsPerRequest: statements === null ? null : statements / result.requests.sent,
    failure: failureOf(measured),
  };
}
