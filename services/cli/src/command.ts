import type { CommandSpec, ParsedCommand } from './args.js';
import type { CommandContext } from './context.js';
import type { ExitCode } from './errors.js';

/** One `igr` command: its command line and the function that runs it. */
export interface Command {
  spec: CommandSpec;
  run(ctx: CommandContext, parsed: ParsedCommand): Promise<ExitCode>;
}

/** A first word of `igr`, such as `accounts`, and its commands. */
export interface CommandGroup {
  name: string;
  summary: string;
  commands: Command[];
}

/** The `--json` option shared by commands whose output a script reads. */
export const jsonOption = {
  type: 'boolean',
  description: 'Print the result as JSON on stdout instead of text.',
} as const;
