// One case under load: a warm-up run, then the measured run with the statements it caused.
//
// The warm-up runs for a time; the measured run sends a number of requests (the warm-up's rate
// times BENCH_SECONDS, at least one per connection) and ends when all are answered. A run cut off
// by time would leave requests in flight that the server may or may not carry out (a PUT whose
// body was not read yet is dropped), and statements per request could not be exact.
import { readFile } from 'node:fs/promises';
import autocannon from 'autocannon';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Builds a run's autocannon options (a case may send requests of its own to do so, which must
 * not be counted: call this before the counter starts). Every answer that is not 2xx is counted
 * by status, the first one kept.
 */
async function prepare(kase) {
  const failures = { byStatus: {}, first: undefined };
  const watch = (request) => ({
    ...request,
    onResponse(status, body) {
      if (status >= 200 && status < 300) return;
      failures.byStatus[status] = (failures.byStatus[status] ?? 0) + 1;
      failures.first ??= `${status} ${String(body).slice(0, 300)}`;
    },
  });
  return { failures, options: await kase.options(watch) };
}

/** Runs autocannon for a duration or an amount of requests. */
async function run({ failures, options }, { url, connections, ...length }) {
  // A request may wait long behind the others on a slow case; 30 s without an answer fails it.
  const result = await autocannon({ url, connections, timeout: 30, ...length, ...options });
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
 * CPU time (user + system, ms) a process has used so far, from Linux's /proc; null elsewhere.
 * Unlike req/s it hardly depends on what else the machine is doing, so it shows what a change to
 * the request path saves even on a busy machine.
 */
async function cpuMs(pid) {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start at field 3; utime and stime are
    // fields 14 and 15, in clock ticks (100 a second on Linux).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return null;
  }
}

/** Lets the last requests of the previous run finish (a run cut off by time leaves some). */
async function quiet(counter) {
  await counter.start();
  await settledCount(counter);
}

/**
 * Measures a case against `server` (a started child process). The warm-up's rate sizes the
 * measured run; a measured run over in less than half the time asked for (the warm-up was
 * slower than the steady state) counts as more warm-up and is run again, resized, up to twice.
 * Statements per request divides the statements the database ran during the measured run by
 * the requests answered in it.
 */
export async function measure(kase, { server, counter, seconds, warmup, connections }) {
  const load = { url: server.url, connections };
  let previous = await run(await prepare(kase), { ...load, duration: Math.max(1, warmup) });
  for (let attempt = 0; ; attempt += 1) {
    const failure = failureOf(previous);
    if (failure) return { title: kase.title, failure: `during warm-up: ${failure}` };
    const rate = previous.result.requests.total / previous.result.duration;
    const amount = Math.max(connections, Math.round(rate * seconds));
    await quiet(counter);
    const prepared = await prepare(kase);
    await counter.start();
    const cpuBefore = await cpuMs(server.pid);
    const measured = await run(prepared, { ...load, amount });
    const cpuAfter = await cpuMs(server.pid);
    const statements = await settledCount(counter);
    if (measured.result.duration < seconds / 2 && attempt < 2 && !failureOf(measured)) {
      previous = measured;
      continue;
    }
    const cpu = cpuBefore === null || cpuAfter === null ? null : cpuAfter - cpuBefore;
    return {
      ...row(kase, measured, statements, connections),
      cpuMsPerRequest: cpu === null ? null : cpu / measured.result.requests.total,
      countCaveat: counter.caveat?.(),
    };
  }
}

function row(kase, { result, failures }, statements, connections) {
  const answered = result.requests.total;
  return {
    title: kase.title,
    rps: answered / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    answered,
    seconds: result.duration,
    connections,
    statementsPerRequest: statements === null || !answered ? null : statements / answered,
    failure: failureOf({ result, failures }),
  };
}

/**
 * Runs a case for `seconds` with every answer required to be 2xx (an error names the case and
 * `what` the run was for); returns its answers a second.
 */
async function runFor(kase, { server, seconds, connections }, what) {
  const ran = await run(await prepare(kase), { url: server.url, connections, duration: seconds });
  const failure = failureOf(ran);
  if (failure) throw new Error(`${kase.title}, ${what}: ${failure}`);
  return ran.result.requests.total / ran.result.duration;
}

/**
 * Runs a case for `seconds` without measuring it: the service's code is compiled by V8 as it runs
 * (from the interpreter up to optimized code, over thousands of requests), and a case measured
 * first would pay for it.
 */
export async function warm(kase, load) {
  await runFor(kase, load, 'warming the service');
}

/**
 * Two cases measured in alternation, `rounds` times each for `seconds`, one right after the
 * other: how the second's req/s compares with the first's is read round by round, so that what
 * other work on the machine does over a run weighs alike on both (measured minutes apart, the same
 * case moves by more than the 1.2× a target allows). Returns the rounds' ratios, second over
 * first, sorted, and their median.
 */
export async function alternate(first, second, { server, rounds, seconds, connections }) {
  const rate = (kase) => runFor(kase, { server, seconds, connections }, 'alternated');
  const ratios = [];
  for (let round = 0; round < rounds; round += 1) {
    const firstRps = await rate(first);
    ratios.push((await rate(second)) / firstRps);
  }
  ratios.sort((a, b) => a - b);
  return { rounds, seconds, ratios, median: ratios[Math.floor(ratios.length / 2)] };
}
