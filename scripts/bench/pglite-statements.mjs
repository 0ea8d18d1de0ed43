// Loaded with `node --import` into the bench's child processes on PGlite (the service and the
// baseline), because PGlite runs inside the process and its statements cannot be counted from
// outside (PostgreSQL has pg_stat_statements for that). It counts what PGlite executes at its
// wire-protocol entry point, which every PGlite call (query, exec, transaction) goes through:
// one statement per simple-protocol Query message and per extended-protocol Execute message,
// as pg_stat_statements counts calls (BEGIN and COMMIT included). A Query message holding
// several statements counts as one; the service sends one statement per message. The cost is a
// scan of a few message headers per statement. The server's code is not changed.
//
// The parent asks with process.send({ type: 'statements?' }) and is answered
// { type: 'statements', statements } (null when this PGlite version has no such entry point).
import { PGlite } from '@electric-sql/pglite';

const QUERY = 0x51; // 'Q'
const EXECUTE = 0x45; // 'E'

let statements = 0;

/** Frontend messages are a type byte and a 4-byte big-endian length that counts itself. */
function statementsIn(message) {
  let count = 0;
  for (let at = 0; at + 5 <= message.length;) {
    const type = message[at];
    if (type === QUERY || type === EXECUTE) count += 1;
    const length =
      ((message[at + 1] << 24) |
        (message[at + 2] << 16) |
        (message[at + 3] << 8) |
        message[at + 4]) >>>
      0;
    at += 1 + length;
  }
  return count;
}

const original = PGlite.prototype.execProtocolRawSync;
const counting = typeof original === 'function';
if (counting) {
  PGlite.prototype.execProtocolRawSync = function (message, ...rest) {
    statements += statementsIn(message);
    return original.call(this, message, ...rest);
  };
}

if (process.send) {
  process.on('message', (message) => {
    if (message?.type === 'statements?') {
      process.send({ type: 'statements', statements: counting ? statements : null });
    }
  });
  // The IPC channel must not keep a process alive that would otherwise exit.
  process.channel?.unref();
}
