import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { registerAudit } from './commands/audit.js';
import { registerCheck } from './commands/check.js';
import { registerImport } from './commands/import.js';
import { registerInvitations } from './commands/invitations.js';
import { registerMembers } from './commands/members.js';
import { registerOrganizations } from './commands/organizations.js';
import { Context, describeFailure, EXIT, type GlobalOptions, type Io } from './context.js';

const HELP_AFTER = `
Environment:
  MEMBER_ROLES_URL   where the service runs (default http://127.0.0.1:3000; --url overrides it)
  MEMBER_ROLES_KEY   the API key to act with: a member's key (mrk_…) or the platform key

Exit codes:
  0  done (check: allowed)
  1  the service refused, could not be reached, or rows of an import failed
  2  the command line is wrong (unknown command or option, missing argument, unreadable file)
  3  check: denied
  130 interrupted (an import resumes when run again)

Tables are for people; --json prints what the service answered, for machines.`;

/** The package's version (dist/program.js sits one folder below cli/package.json). */
const VERSION = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  }
).version;

/** The `member-roles` command line, over the typed client. */
export function createProgram(io: Io): Command {
  const program = new Command('member-roles')
    .description('Manage organizations and their members on a member-roles service.')
    .version(VERSION)
    .addOption(
      new Option('--url <url>', 'the service (MEMBER_ROLES_URL)')
        .env('MEMBER_ROLES_URL')
        .default('http://127.0.0.1:3000'),
    )
    .option('--json', 'print JSON (what the service answered) instead of tables')
    .option('--as <userId>', 'with the platform key: act on behalf of this member (On-Behalf-Of)')
    .addHelpText('after', HELP_AFTER)
    .showHelpAfterError()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    })
    .exitOverride();

  const context = () => new Context(program.opts<GlobalOptions>(), io);
  registerOrganizations(program, context);
  registerMembers(program, context);
  registerInvitations(program, context);
  registerCheck(program, context);
  registerImport(program, context);
  registerAudit(program, context);
  // Every subcommand writes where the program does, and reports errors the same way.
  for (const command of program.commands) {
    command.configureOutput(program.configureOutput()).showHelpAfterError().exitOverride();
    for (const sub of command.commands) {
      sub.configureOutput(program.configureOutput()).showHelpAfterError().exitOverride();
    }
  }
  return program;
}

/** Runs the command line; resolves with the exit code (nothing thrown). */
export async function run(argv: string[], io: Io): Promise<number> {
  const program = createProgram(io);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end here too, successfully.
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    const failure = describeFailure(error);
    const json = program.opts<GlobalOptions>().json;
    io.stderr.write(
      json
        ? `${JSON.stringify({ error: failure.message, ...(failure.problem ? { problem: failure.problem } : {}) })}\n`
        : `member-roles: ${failure.message}\n`,
    );
    return failure.exitCode;
  }
}
