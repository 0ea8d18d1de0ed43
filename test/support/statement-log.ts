import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';

/**
 * A logger that keeps the service's request log lines, and the statements (database round trips)
 * each request took, read from its line: at `debug`, every request's log line says how many it
 * cost.
 */
export function statementLog(): {
  logger: Logger;
  statementsOf: (requestId: string) => Promise<number>;
} {
  const lines: { requestId?: string; statements?: number }[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line) lines.push(JSON.parse(line) as (typeof lines)[number]);
      }
      done();
    },
  });
  return {
    logger: pino({ level: 'debug' }, sink),
    statementsOf: async (requestId) => {
      for (let i = 0; i < 50; i += 1) {
        const line = lines.find((l) => l.requestId === requestId);
        if (line?.statements !== undefined) return line.statements;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      throw new Error(`no log line for request ${requestId}`);
    },
  };
}
