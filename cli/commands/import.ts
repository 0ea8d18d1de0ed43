import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { parse } from 'csv-parse/sync';
import type { components, MemberRolesClient } from 'member-roles-client';
import { CliError, EXIT, problemError, type Context } from '../context.js';

type MemberCreate = components['schemas']['MemberCreate'];

/** The columns an import file may have (a header line names them, in any order). */
export const IMPORT_COLUMNS = ['userId', 'email', 'name', 'imageUrl', 'roleId'] as const;
const REQUIRED = ['userId', 'email'] as const;

/** One data row of the file: its 1-based row number, the line it ends on, and what it asks. */
export interface ImportRow {
  row: number;
  line: number;
  body: MemberCreate;
  /** The same for every run over the same organization and row: what makes a re-run safe. */
  idempotencyKey: string;
}

export type RowOutcome =
  | { row: ImportRow; kind: 'added' }
  | { row: ImportRow; kind: 'existing' }
  | { row: ImportRow; kind: 'failed'; status: number; code: string; detail: string };

/**
 * The Idempotency-Key of a row: a hash of the organization, the row's number and its content. A
 * run that was interrupted, run again over the same file, sends each row with the key it had:
 * a row that was already applied answers as it did then and is not applied twice.
 */
export function rowKey(orgId: string, row: number, body: MemberCreate): string {
  const fields = IMPORT_COLUMNS.map((column) => body[column] ?? '');
  const hash = createHash('sha256').update(JSON.stringify([orgId, row, ...fields]));
  return `member-roles-import-${hash.digest('hex').slice(0, 40)}`;
}

/** Reads FILE.csv: a header line naming the columns, then one member per line. */
export function readImportFile(file: string, orgId: string): ImportRow[] {
  let content: Buffer;
  try {
    content = readFileSync(file);
  } catch (error) {
    throw new CliError(`cannot read ${file}: ${(error as Error).message}`, EXIT.usage);
  }
  let records: { record: string[]; info: { lines: number } }[];
  try {
    records = parse(content, { bom: true, info: true, skip_empty_lines: true }) as unknown as {
      record: string[];
      info: { lines: number };
    }[];
  } catch (error) {
    throw new CliError(`${file} is not valid CSV: ${(error as Error).message}`, EXIT.usage);
  }
  const [header, ...data] = records;
  if (!header) throw new CliError(`${file} is empty: it needs a header line`, EXIT.usage);
  const columns = header.record.map((name) => name.trim());
  const unknown = columns.filter((name) => !(IMPORT_COLUMNS as readonly string[]).includes(name));
  const missing = REQUIRED.filter((name) => !columns.includes(name));
  if (unknown.length > 0 || missing.length > 0) {
    throw new CliError(
      `${file}: the header line must name the columns ${REQUIRED.join(' and ')}, and may name ${IMPORT_COLUMNS.filter((c) => !(REQUIRED as readonly string[]).includes(c)).join(', ')}${unknown.length ? `; unknown: ${unknown.join(', ')}` : ''}${missing.length ? `; missing: ${missing.join(', ')}` : ''}`,
      EXIT.usage,
    );
  }
  return data.map(({ record, info }, index) => {
    const value = (column: string) => record[columns.indexOf(column)]?.trim() ?? '';
    const body: MemberCreate = { userId: value('userId'), email: value('email') };
    if (value('name')) body.name = value('name');
    if (value('imageUrl')) body.imageUrl = value('imageUrl');
    if (value('roleId')) body.roleId = value('roleId');
    return {
      row: index + 1,
      line: info.lines,
      body,
      idempotencyKey: rowKey(orgId, index + 1, body),
    };
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Sends one row (one addMember); an earlier run's request still being processed is waited for. */
async function sendRow(
  client: MemberRolesClient,
  orgId: string,
  row: ImportRow,
): Promise<RowOutcome> {
  for (let attempt = 0; ; attempt += 1) {
    const { error, response } = await client.POST('/v1/organizations/{orgId}/members', {
      params: { path: { orgId }, header: { 'Idempotency-Key': row.idempotencyKey } },
      body: row.body,
    });
    if (!error) return { row, kind: 'added' };
    if (error.code === 'MEMBER_EXISTS') return { row, kind: 'existing' };
    // The interrupted run's request for this row is still running on the service.
    if (error.code === 'IDEMPOTENCY_KEY_IN_USE' && attempt < 20) {
      await sleep(250);
      continue;
    }
    if (!error.code) throw problemError(`add member ${row.body.userId}`, response.status, error);
    return {
      row,
      kind: 'failed',
      status: response.status,
      code: error.code,
      detail: error.detail ?? error.title,
    };
  }
}

/** The most rows one request may carry: the batch operation's limit. */
export const CHUNK_SIZE = 100;

/**
 * The Idempotency-Key of a batch: a hash of its rows' keys. A re-run over the same file sends the
 * same chunks with the same keys, so a chunk that was applied answers as it did then.
 */
export function chunkKey(rows: readonly ImportRow[]): string {
  const hash = createHash('sha256').update(rows.map((row) => row.idempotencyKey).join('\n'));
  return `member-roles-import-${hash.digest('hex').slice(0, 40)}`;
}

/** The rows a 400 names (`/operations/N/…`); null if it names anything else. */
function refusedRows(
  problem: { errors?: { location: string; path: string }[] },
  rows: readonly ImportRow[],
): Set<ImportRow> | null {
  const refused = new Set<ImportRow>();
  for (const error of problem.errors ?? []) {
    const index = /^\/operations\/(\d+)(\/|$)/.exec(error.path)?.[1];
    const row = error.location === 'body' && index !== undefined ? rows[Number(index)] : undefined;
    if (!row) return null;
    refused.add(row);
  }
  return refused.size > 0 ? refused : null;
}

/**
 * Sends one chunk of at most CHUNK_SIZE rows as one batchMembers request and tells `onRow` the
 * outcome of each (the item's own status and problem). Rows the contract refuses (a malformed
 * email, say) make the service refuse the whole request: those rows are sent alone (their
 * answers name the rule), the others again as a batch of their own. A chunk an interrupted run sent is still running on the
 * service: its answer is waited for.
 */
export async function sendChunk(
  client: MemberRolesClient,
  orgId: string,
  rows: ImportRow[],
  onRow: (outcome: RowOutcome) => void,
): Promise<void> {
  if (rows.length === 0) return;
  for (let attempt = 0; ; attempt += 1) {
    const { data, error, response } = await client.POST('/v1/organizations/{orgId}/members/batch', {
      params: { path: { orgId }, header: { 'Idempotency-Key': chunkKey(rows) } },
      body: { operations: rows.map((row) => ({ op: 'add' as const, ...row.body })) },
    });
    if (data) {
      for (const result of data.results) {
        const row = rows[result.index]!;
        const body = result.body as { code?: string; detail?: string; title?: string } | null;
        if (result.status < 300) onRow({ row, kind: 'added' });
        else if (body?.code === 'MEMBER_EXISTS') onRow({ row, kind: 'existing' });
        else {
          const detail = body?.detail ?? body?.title ?? '';
          onRow({ row, kind: 'failed', status: result.status, code: body?.code ?? '', detail });
        }
      }
      return;
    }
    if (error?.code === 'IDEMPOTENCY_KEY_IN_USE' && attempt < 40) {
      await sleep(250);
      continue;
    }
    const refused = error?.code === 'VALIDATION_FAILED' ? refusedRows(error, rows) : null;
    if (!refused) throw problemError(`import into ${orgId}`, response.status, error);
    // Each refused row alone, as addMember: its answer names the rule it breaks.
    for (const row of refused) onRow(await sendRow(client, orgId, row));
    return sendChunk(
      client,
      orgId,
      rows.filter((row) => !refused.has(row)),
      onRow,
    );
  }
}

interface Summary {
  file: string;
  organizationId: string;
  rows: number;
  added: number;
  existing: number;
  failed: number;
  interrupted: boolean;
  failures: {
    row: number;
    line: number;
    userId: string;
    status: number;
    code: string;
    detail: string;
  }[];
}

/** Failed rows listed for people (--json lists them all). */
const SHOWN_FAILURES = 20;

/** `member-roles import ORG FILE.csv` */
export function registerImport(program: Command, context: () => Context) {
  program
    .command('import <orgId> <file>')
    .description(
      `add the members listed in a CSV file (header line: ${IMPORT_COLUMNS.join(',')}; userId and email required). Safe to run again after an interruption: rows already added are recognised, never added twice`,
    )
    .action(async (orgId: string, file: string) => {
      const ctx = context();
      const rows = readImportFile(file, orgId);
      const client = ctx.client;
      const summary: Summary = {
        file,
        organizationId: orgId,
        rows: rows.length,
        added: 0,
        existing: 0,
        failed: 0,
        interrupted: false,
        failures: [],
      };

      const bar =
        ctx.io.stderr.isTTY && !ctx.json
          ? new SingleBar({
              stream: ctx.io.stderr,
              format:
                'importing [{bar}] {percentage}% | {value}/{total} rows | {added} added, {existing} already members, {failed} failed | {eta_formatted}',
              hideCursor: true,
              etaBuffer: 200,
            })
          : undefined;
      bar?.start(rows.length, 0, { added: 0, existing: 0, failed: 0 });

      // Ctrl-C: send no more rows, let those in flight finish, say how to resume.
      let stopping = false;
      const interrupt = () => {
        stopping = true;
      };
      process.once('SIGINT', interrupt);
      process.once('SIGTERM', interrupt);
      const started = Date.now();
      try {
        for (let at = 0; at < rows.length && !stopping; at += CHUNK_SIZE) {
          await sendChunk(client, orgId, rows.slice(at, at + CHUNK_SIZE), (outcome) => {
            if (outcome.kind === 'added') summary.added += 1;
            else if (outcome.kind === 'existing') summary.existing += 1;
            else {
              summary.failed += 1;
              const { row, line, body } = outcome.row;
              const { status, code, detail } = outcome;
              summary.failures.push({ row, line, userId: body.userId, status, code, detail });
            }
            bar?.increment(1, {
              added: summary.added,
              existing: summary.existing,
              failed: summary.failed,
            });
          });
        }
      } finally {
        bar?.stop();
        process.off('SIGINT', interrupt);
        process.off('SIGTERM', interrupt);
      }
      summary.interrupted = stopping;
      summary.failures.sort((a, b) => a.row - b.row);
      const done = summary.added + summary.existing + summary.failed;
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      ctx.print(summary, () =>
        [
          `${file}: ${done} of ${rows.length} rows in ${seconds} s: ${summary.added} added, ${summary.existing} already members, ${summary.failed} failed`,
          ...summary.failures
            .slice(0, SHOWN_FAILURES)
            .map((f) => `  line ${f.line} (${f.userId}): ${f.code} (${f.status}) ${f.detail}`),
          ...(summary.failed > SHOWN_FAILURES
            ? [`  … and ${summary.failed - SHOWN_FAILURES} more (--json lists every one)`]
            : []),
          ...(stopping
            ? [
                'interrupted: run the same command again to finish (rows already sent are not added twice)',
              ]
            : []),
        ].join('\n'),
      );
      if (stopping) process.exitCode = EXIT.interrupted;
      else if (summary.failed > 0) process.exitCode = EXIT.failed;
    });
}
