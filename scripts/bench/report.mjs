// The table one database run prints, with the targets beside the figures.
import { judge } from './cases.mjs';

const integer = (value) => Math.round(value).toLocaleString('en');
const fixed = (digits) => (value) => value.toFixed(digits);

const COLUMNS = [
  { title: 'case', width: 42, align: 'left', value: (row) => row.title },
  { title: 'req/s', width: 8, value: (row) => integer(row.rps) },
  { title: 'p50 ms', width: 8, value: (row) => fixed(1)(row.p50) },
  { title: 'p99 ms', width: 8, value: (row) => fixed(1)(row.p99) },
  { title: '× base', width: 7, value: (row) => (row.ratio === null ? 'n/a' : fixed(2)(row.ratio)) },
  {
    title: 'cpu ms/req',
    width: 10,
    value: (row) => (row.cpuMsPerRequest == null ? 'n/a' : fixed(3)(row.cpuMsPerRequest)),
  },
  {
    title: 'stmts/req',
    width: 10,
    value: (row) =>
      row.statementsPerRequest === null
        ? 'n/a'
        : `${fixed(2)(row.statementsPerRequest)}${row.countCaveat ? '*' : ''}`,
  },
];

function cell(column, text) {
  return column.align === 'left' ? text.padEnd(column.width) : text.padStart(column.width);
}

function targetsText(row, rows) {
  return row.targets
    .map((target) => {
      const met = judge(target, row, rows);
      return `${target.label}: ${met === null ? 'n/a' : met ? 'met' : 'NOT MET'}`;
    })
    .join('; ');
}

/** Prints the table of one database run, then its notes and how many targets were met. */
export function printTable({ heading, notes, rows }) {
  console.log(`\n${heading}`);
  for (const note of notes) console.log(`  ${note}`);
  const paired = rows.map((row) => row.pairedBaselineRps).filter((rps) => rps !== undefined);
  if (paired.length) {
    console.log(
      "  × base: each service case over the baseline's req/s measured just before and just after it, averaged (from " +
        `${integer(Math.min(...paired))} to ${integer(Math.max(...paired))} during this run)`,
    );
  }
  console.log();
  console.log(
    `${COLUMNS.map((column) => cell(column, column.title)).join(' ')}  targets (issue 7)`,
  );
  let met = 0;
  let judged = 0;
  for (const row of rows) {
    if (row.failure) {
      console.log(`${cell(COLUMNS[0], row.title)} FAILED: ${row.failure}`);
      continue;
    }
    const figures = COLUMNS.map((column) => cell(column, column.value(row))).join(' ');
    console.log(`${figures}  ${targetsText(row, rows)}`.trimEnd());
    for (const target of row.targets) {
      const verdict = judge(target, row, rows);
      if (verdict !== null) judged += 1;
      if (verdict) met += 1;
    }
  }
  for (const row of rows.filter((candidate) => !candidate.failure)) {
    if (row.answered < 2 * row.connections) {
      console.log(
        `\n  ${row.title}: ${row.answered} answers in ${row.seconds} s from ` +
          `${row.connections} connections: too few for steady figures (a longer BENCH_SECONDS helps)`,
      );
    }
  }
  // A case of many items per request (a batch) beside the case of one item per request it stands
  // for: items per second and statements per item.
  for (const row of rows.filter((candidate) => candidate.perRequest && !candidate.failure)) {
    const single = rows.find((candidate) => candidate.title === row.compareWith);
    const items = row.rps * row.perRequest;
    const perItem =
      row.statementsPerRequest === null ? null : row.statementsPerRequest / row.perRequest;
    let text = `\n  ${row.title}: ${integer(items)} items/s (${fixed(1)(row.rps)} requests/s × ${row.perRequest})`;
    if (single && !single.failure) {
      text += `; ${row.perRequest} single requests (${single.title}): ${integer(single.rps)} changes/s, ${fixed(1)((row.perRequest / single.rps) * 1000)} ms for ${row.perRequest}; the batch: ${fixed(1)(1000 / row.rps)} ms, ×${fixed(1)(items / single.rps)} the items per second`;
      if (perItem !== null && single.statementsPerRequest !== null) {
        text += `; statements per item ${fixed(2)(perItem)} vs ${fixed(2)(single.statementsPerRequest)} (${integer(row.statementsPerRequest)} for the batch vs ${integer(single.statementsPerRequest * row.perRequest)} for ${row.perRequest} requests)`;
      }
    }
    console.log(text);
  }
  for (const row of rows.filter((candidate) => candidate.alternated && !candidate.failure)) {
    const { rounds, seconds, ratios, median } = row.alternated;
    const target = row.targets.find((candidate) => candidate.kind === 'within');
    console.log(
      `\n  ${row.title} against ${target.of}, measured in alternation (${rounds} rounds of ` +
        `${seconds} s each, one right after the other): ${fixed(2)(median)}× its req/s, median ` +
        `of the rounds (${fixed(2)(ratios[0])} to ${fixed(2)(ratios.at(-1))}); "${target.label}" ` +
        'is judged on this',
    );
  }
  const caveat = rows.find((row) => row.countCaveat)?.countCaveat;
  if (caveat) console.log(`\n  * ${caveat}: its count may be low`);
  const failed = rows.filter((row) => row.failure).length;
  console.log(
    `\n  targets met: ${met} of ${judged} (informational: a missed target does not fail the bench)` +
      (failed ? `\n  ${failed} case(s) FAILED: answers that were not 2xx make the bench fail` : ''),
  );
}
