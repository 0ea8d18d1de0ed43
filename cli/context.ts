import {
  createMemberRolesClient,
  ProblemError,
  type MemberRolesClient,
  type Problem,
} from 'member-roles-client';

/** Exit codes: documented in `member-roles --help` and the README. */
export const EXIT = {
  ok: 0,
  /** The service refused, could not be reached, or some rows of an import failed. */
  failed: 1,
  /** The command line itself is wrong (unknown command or option, a missing argument, a bad file). */
  usage: 2,
  /** `check`: the service answered, and the answer is "no". */
  denied: 3,
  /** Interrupted (Ctrl-C); an import can be run again to resume. */
  interrupted: 130,
} as const;

/** A failure the command reports itself (one line to stderr, or a JSON object with --json). */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.failed,
    readonly problem?: Problem,
  ) {
    super(message);
  }
}

/** The options every command takes (`member-roles --url … --json --as … COMMAND`). */
export interface GlobalOptions {
  url: string;
  json?: boolean;
  as?: string;
}

export interface Io {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
}

/** What a command needs: a client set up from the environment, and how to print. */
export class Context {
  readonly json: boolean;
  #client: MemberRolesClient | undefined;

  constructor(
    readonly options: GlobalOptions,
    readonly io: Io,
  ) {
    this.json = options.json ?? false;
  }

  /** The typed client: MEMBER_ROLES_URL (or --url), MEMBER_ROLES_KEY, On-Behalf-Of from --as. */
  get client(): MemberRolesClient {
    if (this.#client) return this.#client;
    const apiKey = this.io.env.MEMBER_ROLES_KEY || undefined;
    if (!apiKey) {
      throw new CliError(
        'MEMBER_ROLES_KEY is not set: export a member API key (mrk_…) or the platform key',
        EXIT.usage,
      );
    }
    const onBehalfOf = this.options.as;
    this.#client = createMemberRolesClient({
      baseUrl: this.options.url,
      apiKey,
      // A rate-limited command waits for its turn (429 says how long, at most a minute) rather
      // than fail: an import of thousands of rows outlasts a minute's budget.
      retries: 5,
      maxRetryAfterSeconds: 60,
      fetch: onBehalfOf
        ? (...[input, init]: Parameters<typeof fetch>) => {
            const request = new Request(input, init);
            request.headers.set('On-Behalf-Of', onBehalfOf);
            return fetch(request);
          }
        : undefined,
    });
    return this.#client;
  }

  /** Prints a value: as JSON with --json, else with `human` (tables, lines). */
  print(value: unknown, human: () => string) {
    this.io.stdout.write(this.json ? `${JSON.stringify(value, null, 2)}\n` : `${human()}\n`);
  }
}

/**
 * The data of an answer, or a CliError made from its problem. `what` names the request in the
 * message ("add member usr_1").
 */
export function unwrap<T>(what: string, answer: { data?: T; error?: unknown; response: Response }) {
  if (answer.data !== undefined && !answer.error) return answer.data;
  throw problemError(what, answer.response.status, answer.error);
}

export function problemError(what: string, status: number, body: unknown): CliError {
  const problem = isProblem(body) ? body : undefined;
  if (!problem) return new CliError(`${what}: the service answered ${status}`);
  const fields = (problem.errors ?? []).map((e) => `\n  ${e.location} ${e.path}: ${e.message}`);
  return new CliError(
    `${what}: ${problem.code} (${problem.status}) ${problem.detail ?? problem.title}${fields.join('')}`,
    EXIT.failed,
    problem,
  );
}

function isProblem(body: unknown): body is Problem {
  return typeof body === 'object' && body !== null && 'code' in body && 'status' in body;
}

/** Turns whatever a command threw into the line (or JSON) it prints and the exit code. */
export function describeFailure(error: unknown): CliError {
  if (error instanceof CliError) return error;
  if (error instanceof ProblemError) {
    return problemError(
      error.message.split(' answered ')[0] ?? 'request',
      error.status,
      error.problem,
    );
  }
  // fetch failures: the cause says what (ECONNREFUSED, ENOTFOUND, …).
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  if (error instanceof TypeError && cause) {
    return new CliError(
      `could not reach the service: ${cause.code ?? cause.message ?? error.message} (MEMBER_ROLES_URL)`,
    );
  }
  return new CliError(error instanceof Error ? error.message : String(error));
}

/** Columns padded to their widest cell; the first row is the header. */
export function table(rows: string[][]): string {
  if (rows.length === 0) return '';
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length)));
  return rows
    .map((row) =>
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** `key: value` lines, keys aligned. */
export function fields(pairs: [string, string | number | null | undefined][]): string {
  const width = Math.max(...pairs.map(([key]) => key.length));
  return pairs.map(([key, value]) => `${`${key}:`.padEnd(width + 2)}${value ?? '-'}`).join('\n');
}
