import { parseArgs } from 'node:util';
import { UsageError } from './errors.js';

/** One `--option` of a command. */
export interface OptionSpec {
  type: 'string' | 'boolean';
  /** Help text naming the setting and its unit, printed by `--help`. */
  description: string;
  /** Placeholder shown in help, such as `ID` or `TIME`. Only for string options. */
  valueName?: string;
  short?: string;
  required?: boolean;
  /** Value used when the option is absent; shown in help. */
  default?: string;
}

export interface PositionalSpec {
  name: string;
  description: string;
  required: boolean;
}

/** The command line of one `igr` command: its name, options, positionals and examples. */
export interface CommandSpec {
  /** Words after `igr`, such as `accounts onboard`. */
  name: string;
  summary: string;
  /** Longer explanation printed by `--help` under the usage line. */
  details?: string;
  options: Record<string, OptionSpec>;
  positionals?: PositionalSpec[];
  examples?: string[];
}

export interface ParsedCommand {
  /** Option values by name; boolean options are true or undefined. */
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

const HELP_OPTION: OptionSpec = { type: 'boolean', short: 'h', description: 'Print this help.' };

/**
 * Parses the arguments after the command words. Returns `help` when `--help` or `-h` is given,
 * so a command prints its help even with otherwise invalid arguments. Throws UsageError for
 * unknown options, missing values, missing required options and extra positionals.
 */
export function parseCommand(spec: CommandSpec, args: string[]): ParsedCommand | 'help' {
  if (args.includes('--help') || args.includes('-h')) return 'help';

  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {};
  for (const [name, option] of Object.entries({ ...spec.options, help: HELP_OPTION })) {
    options[name] = option.short
      ? { type: option.type, short: option.short }
      : { type: option.type };
  }

  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: attachDashValues(args, spec),
      options,
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    throw new UsageError(`${describeParseError(err)} Run igr ${spec.name} --help for the options.`);
  }

  const values: Record<string, string | boolean | undefined> = {};
  for (const [name, option] of Object.entries(spec.options)) {
    const value = parsed.values[name];
    if (Array.isArray(value)) {
      throw new UsageError(`--${name} is given more than once; give it once.`);
    }
    values[name] = value ?? option.default;
    if (option.type === 'string' && value === '') {
      throw new UsageError(`--${name} is empty; expected ${option.valueName ?? 'a value'}.`);
    }
    if (option.required && values[name] === undefined) {
      throw new UsageError(
        `--${name} is missing; expected ${option.valueName ?? 'a value'}. Run igr ${spec.name} --help for the options.`,
      );
    }
  }

  const positionalSpecs = spec.positionals ?? [];
  const positionals = parsed.positionals;
  if (positionals.length > positionalSpecs.length) {
    const extra = positionals.slice(positionalSpecs.length).join(' ');
    throw new UsageError(
      `unexpected argument ${JSON.stringify(extra)}. Run igr ${spec.name} --help for the usage.`,
    );
  }
  for (const [index, positional] of positionalSpecs.entries()) {
    if (positional.required && positionals[index] === undefined) {
      throw new UsageError(`${positional.name} is missing. Usage: ${usageLine(spec)}`);
    }
  }
  return { values, positionals };
}

/**
 * Joins `--from -1h` into `--from=-1h`. parseArgs reads a value that starts with `-` as an
 * option, but relative times (`-1h`) and negative numbers are values, and no option name
 * starts with a digit.
 */
function attachDashValues(args: string[], spec: CommandSpec): string[] {
  const joined: string[] = [];
  for (let index = 0; index < args.length; index++) {
    const arg = args[index] ?? '';
    const next = args[index + 1];
    const name = arg.startsWith('--') ? arg.slice(2) : undefined;
    if (
      name !== undefined &&
      spec.options[name]?.type === 'string' &&
      next !== undefined &&
      /^-\d/.test(next)
    ) {
      joined.push(`${arg}=${next}`);
      index += 1;
      continue;
    }
    joined.push(arg);
  }
  return joined;
}

// Node's parseArgs messages describe the parser; these name the option and the fix.
function describeParseError(err: unknown): string {
  const { code, message } = err as { code?: string; message: string };
  const quoted = /'([^']+)'/.exec(message)?.[1] ?? '';
  const option = quoted.split(' ')[0] ?? quoted;
  switch (code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option ${option}.`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      if (message.includes('ambiguous')) {
        return `${option} needs a value; for a value that starts with -, write ${option}=VALUE.`;
      }
      return message.includes('argument missing')
        ? `${option} needs a value.`
        : `${option} takes no value.`;
    default:
      return `${message}.`;
  }
}

function usageLine(spec: CommandSpec): string {
  const parts = [`igr ${spec.name}`];
  for (const positional of spec.positionals ?? []) {
    parts.push(positional.required ? positional.name : `[${positional.name}]`);
  }
  for (const [name, option] of Object.entries(spec.options)) {
    const text =
      option.type === 'string' ? `--${name} ${option.valueName ?? 'VALUE'}` : `--${name}`;
    parts.push(option.required ? text : `[${text}]`);
  }
  return parts.join(' ');
}

const HELP_WIDTH = 100;

/** Splits text at spaces into lines of at most `width` characters (longer words stay whole). */
export function wrapWords(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter((part) => part !== '')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  if (line !== '') lines.push(line);
  return lines;
}

/** Formats `prefix` followed by `text` wrapped to the help width, aligned under its first line. */
function hangingText(prefix: string, text: string, indent = prefix.length): string {
  const lines = wrapWords(text, Math.max(HELP_WIDTH - indent, 30));
  return lines
    .map((line, index) => (index === 0 ? `${prefix}${line}` : `${' '.repeat(indent)}${line}`))
    .join('\n');
}

/** Formats `--help` of a command: usage, details, positionals, options with units, examples. */
export function formatCommandHelp(spec: CommandSpec): string {
  const lines = [hangingText('Usage: ', usageLine(spec).slice(0), 4), '', spec.summary];
  if (spec.details) lines.push('', hangingText('', spec.details, 0));

  const positionals = spec.positionals ?? [];
  if (positionals.length > 0) {
    lines.push('', 'Arguments:');
    const width = Math.max(...positionals.map((p) => p.name.length));
    for (const positional of positionals) {
      lines.push(hangingText(`  ${positional.name.padEnd(width)}  `, positional.description));
    }
  }

  lines.push('', 'Options:');
  const entries = Object.entries({ ...spec.options, help: HELP_OPTION });
  const labels = entries.map(([name, option]) => {
    const short = option.short ? `-${option.short}, ` : '';
    return option.type === 'string'
      ? `${short}--${name} ${option.valueName ?? 'VALUE'}`
      : `${short}--${name}`;
  });
  const width = Math.max(...labels.map((label) => label.length));
  for (const [index, [, option]] of entries.entries()) {
    const notes: string[] = [];
    if (option.required) notes.push('required');
    if (option.default !== undefined) notes.push(`default: ${option.default}`);
    const suffix = notes.length > 0 ? ` (${notes.join('; ')})` : '';
    lines.push(
      hangingText(`  ${(labels[index] ?? '').padEnd(width)}  `, `${option.description}${suffix}`),
    );
  }

  if (spec.examples && spec.examples.length > 0) {
    lines.push('', 'Examples:');
    for (const example of spec.examples) lines.push(`  ${example}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Returns a string option's value, or undefined. Booleans never reach string options. */
export function stringOption(parsed: ParsedCommand, name: string): string | undefined {
  const value = parsed.values[name];
  return typeof value === 'string' ? value : undefined;
}

/** Returns a required string option's value; parseCommand has already checked it is present. */
export function requiredOption(parsed: ParsedCommand, name: string): string {
  const value = stringOption(parsed, name);
  if (value === undefined) throw new UsageError(`--${name} is missing.`);
  return value;
}

export function flagOption(parsed: ParsedCommand, name: string): boolean {
  return parsed.values[name] === true;
}

/** Parses a whole number option within bounds, naming the option and the value on failure. */
export function integerOption(
  parsed: ParsedCommand,
  name: string,
  bounds: { min: number; max: number },
): number | undefined {
  const text = stringOption(parsed, name);
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!/^-?\d+$/.test(text) || value < bounds.min || value > bounds.max) {
    throw new UsageError(
      `--${name} ${JSON.stringify(text)} is invalid; expected a whole number from ${bounds.min} to ${bounds.max}.`,
    );
  }
  return value;
}
