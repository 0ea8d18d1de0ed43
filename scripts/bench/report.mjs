// The table one database run prints, with the targets beside the figures.
import { judge } from './cases.mjs';

const integer = (value) => Math.round(value).toLocaleString('en');
const fixed = (digits) => (value) => value.toFixed(digits);
const latency = (value, row) => (value === null ? `>${row.seconds} s` : fixed(1)(value));

const COLUMNS = [
  { title: 'case', width: 42, align: 'left', value: (row) => row.title },
  { title: 'req/s', width: 8, value: (row) => integer(row.rps) },
  { title: 'p50 ms', width: 8, value: (row) => latency(row.p50, row) },
  { title: 'p99 ms', width: 8, value: (row) => latency(row.p99, row) },
  {
    title: '× base',
    width: 7,
    value: (row, base) => (base?.rps ? fixed(2)(row.rps / base.rps) : ''),
  },
  {
    title: 'stmts/req',
    width: 10,
    value: (row) =>
      row.statementsPerRequest === null ? 'n/a' : fixed(2)(row.statementsPerRequest),
  },
];

function cell(column, text) {
  return column.align === 'left' ? text.padEnd(column.width) : text.padStart(column.width);
}

/** The mean req/s of the baseline's runs (first and last), or undefined when none succeeded. */
function baselineRps(rows) {
  const runs = rows.filter((row) => row.isBaseline && !row.failure);
  return runs.length ? runs.reduce((sum, row) => sum + row.rps, 0) / runs.length : undefined;
}

function targetsText(row, rows, baseline) {
  return row.targets
    .map((target) => {
      const met = judge(target, row, rows, baseline);
      return `${target.label}: ${met === null ? 'n/a' : met ? 'met' : 'NOT MET'}`;
    })
    .join('; ');
}

/** Prints the table; returns how many targets were met and judged. */
export function printTable({ heading, notes, rows }) {
  const baseline = baselineRps(rows);
  console.log(`\n${heading}`);
  for (const note of notes) console.log(`  ${note}`);
  const runs = rows.filter((row) => row.isBaseline && !row.failure);
  if (runs.length) {
    console.log(
      `  × base: req/s over the mean of the baseline's runs (${runs.map((row) => integer(row.rps)).join(' and ')} req/s)`,
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
    const figures = COLUMNS.map((column) => cell(column, column.value(row, baseline))).join(' ');
    console.log(`${figures}  ${targetsText(row, rows, baseline)}`.trimEnd());
    for (const target of row.targets) {
      const verdict = judge(target, row, rows, baseline);
      if (verdict !== null) judged += 1;
      if (verdict) met += 1;
    }
  }
  for (const row of rows.filter((candidate) => !candidate.failure)) {
    if (row.answered < 2 * row.connections) {
      console.log(
        `\n  ${row.title}: ${row.answered} answers in ${row.seconds} s from ` +
          `${row.connections} connections; its figures are rough (each request waited ` +
          'behind the others: the latency is the queue, not the request)',
      );
    }
  }
  const failed = rows.filter((row) => row.failure).length;
  console.log(
    `\n  targets met: ${met} of ${judged} (informational: a missed target does not fail the bench)` +
      (failed ? `\n  ${failed} case(s) FAILED: answers that were not 2xx make the bench fail` : ''),
  );
}
