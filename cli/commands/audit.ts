import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import { Option, type Command } from 'commander';
import type { AuditEvent, components } from 'member-roles-client';
import type { Context } from '../context.js';

type AuditAction = components['schemas']['AuditAction'];

/** The CSV columns of an exported event; `before` and `after` are JSON text. */
export const CSV_COLUMNS = [
  'id',
  'occurredAt',
  'organizationId',
  'action',
  'actorType',
  'actorUserId',
  'actorApiKeyId',
  'actorVia',
  'targetUserId',
  'targetId',
  'requestId',
  'before',
  'after',
] as const;

/** RFC 4180: a field with a comma, a quote or a line break is quoted, its quotes doubled. */
function csvField(value: string | null): string {
  if (value === null) return '';
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

function csvLine(event: AuditEvent): string {
  const cells: Record<(typeof CSV_COLUMNS)[number], string | null> = {
    id: event.id,
    occurredAt: event.occurredAt,
    organizationId: event.organizationId,
    action: event.action,
    actorType: event.actor.type,
    actorUserId: event.actor.userId,
    actorApiKeyId: event.actor.apiKeyId,
    actorVia: event.actor.via,
    targetUserId: event.targetUserId,
    targetId: event.targetId,
    requestId: event.requestId,
    before: event.before === null ? null : JSON.stringify(event.before),
    after: event.after === null ? null : JSON.stringify(event.after),
  };
  return `${CSV_COLUMNS.map((column) => csvField(cells[column])).join(',')}\r\n`;
}

/** `member-roles audit export ORG`: the audit trail, newest first, streamed page by page. */
export function registerAudit(program: Command, context: () => Context) {
  const audit = program.command('audit').description("an organization's audit trail");
  audit
    .command('export <orgId>')
    .description(
      'every audit event (newest first, as the API lists them), written as each page arrives: NDJSON (one event per line) or CSV',
    )
    .addOption(
      new Option('--format <format>', 'output format').choices(['ndjson', 'csv']).default('ndjson'),
    )
    .option('-o, --output <file>', 'write to this file instead of standard output')
    .option('--action <action>', 'only events of this action, e.g. member.role_changed')
    .option('--actor <userId>', 'only events by this member')
    .option('--target <userId>', 'only events about this member')
    .option('--since <time>', 'only events at or after this time (RFC 3339)')
    .action(
      async (
        orgId: string,
        options: {
          format: 'ndjson' | 'csv';
          output?: string;
          action?: string;
          actor?: string;
          target?: string;
          since?: string;
        },
      ) => {
        const ctx = context();
        const out = options.output ? createWriteStream(options.output) : ctx.io.stdout;
        const write = async (text: string) => {
          if (!out.write(text)) await once(out, 'drain');
        };
        if (options.format === 'csv') await write(`${CSV_COLUMNS.join(',')}\r\n`);
        let count = 0;
        for await (const event of ctx.client.paginate('/v1/organizations/{orgId}/audit-events', {
          params: {
            path: { orgId },
            query: {
              limit: 100,
              ...(options.action ? { action: options.action as AuditAction } : {}),
              ...(options.actor ? { actorId: options.actor } : {}),
              ...(options.target ? { targetUserId: options.target } : {}),
              ...(options.since ? { since: options.since } : {}),
            },
          },
        })) {
          await write(options.format === 'csv' ? csvLine(event) : `${JSON.stringify(event)}\n`);
          count += 1;
        }
        if (options.output) {
          out.end();
          await finished(out);
          ctx.io.stderr.write(`wrote ${count} events to ${options.output}\n`);
        }
      },
    );
}
