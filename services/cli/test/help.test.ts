import { describe, expect, it } from 'vitest';
import { allCommands } from '../src/main.js';
import { parseTime } from '../src/time.js';
import { cliEnv, runChild, runInProcess } from './helpers.js';

describe('igr --help', () => {
  const env = cliEnv({});

  it.each(allCommands().map((command) => command.spec.name))('%s --help', async (name) => {
    const run = await runInProcess([...name.split(' '), '--help'], env);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`Usage: igr ${name}`);
    expect(run.stdout).toContain('Options:');
    expect(run.stderr).toBe('');
  });

  it('describes every option of every command', () => {
    for (const command of allCommands()) {
      for (const [name, option] of Object.entries(command.spec.options)) {
        expect(option.description.length, `${command.spec.name} --${name}`).toBeGreaterThan(10);
      }
    }
  });

  it('states the unit of every duration and time option', () => {
    for (const command of allCommands()) {
      for (const [name, option] of Object.entries(command.spec.options)) {
        if (option.valueName === 'DURATION') {
          expect(option.description, `${command.spec.name} --${name}`).toMatch(/\d+(s|m)\b/);
        }
        if (option.valueName === 'TIME') {
          expect(option.description, `${command.spec.name} --${name}`).toMatch(
            /ISO-8601|same forms/,
          );
        }
      }
    }
  });

  it('lists reroute in the command list', async () => {
    const run = await runInProcess(['--help'], env);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('reroute');
  });
});

describe('igr as a child process', () => {
  const env = cliEnv({});

  it('prints the main help with exit code 0', async () => {
    const run = await runChild(['--help'], env);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('Usage: igr <command>');
  });

  it('runs through the bin/igr.js launcher', async () => {
    const run = await runChild(['accounts', 'onboard', '--help'], env, { launcher: true });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('Usage: igr accounts onboard');
  });

  it('exits 64 for an unknown command', async () => {
    const run = await runChild(['acounts', 'list'], env);
    expect(run.code).toBe(64);
    expect(run.stderr).toContain('unknown command "acounts"');
  });

  it('exits 64 for a missing required option', async () => {
    const run = await runChild(['clients', 'create'], env);
    expect(run.code).toBe(64);
    expect(run.stderr).toContain('--name is missing');
  });

  it('exits 78 and names the variable when DATABASE_URL is empty', async () => {
    const run = await runChild(['clients', 'list'], { ...env, DATABASE_URL: '' });
    expect(run.code).toBe(78);
    expect(run.stderr).toContain('DATABASE_URL');
  });

  it('exits 64 for a token given as an argument', async () => {
    const run = await runChild(
      ['accounts', 'rotate-token', '17841400000000001', '--token', 'EAAB-secret-token'],
      env,
    );
    expect(run.code).toBe(64);
    expect(run.stderr).toContain('unknown option --token');
    expect(run.stderr).not.toContain('EAAB-secret-token');
  });
});

describe('parseTime', () => {
  const now = Date.parse('2024-05-01T12:00:00Z');

  it.each([
    ['now', now],
    ['-1h', now - 3_600_000],
    ['-30m', now - 1_800_000],
    ['-2d', now - 2 * 86_400_000],
    ['+10m', now + 600_000],
    ['2024-05-01', Date.parse('2024-05-01T00:00:00Z')],
    ['2024-05-01T10:30:00Z', Date.parse('2024-05-01T10:30:00Z')],
    ['2024-05-01T14:30+02:00', Date.parse('2024-05-01T12:30:00Z')],
  ])('parses %s', (text, expected) => {
    expect(parseTime(text, '--from', now)).toBe(expected);
  });

  it.each(['yesterday', '1h', '2024-05-01T10:30:00', '-1y'])('rejects %s', (text) => {
    expect(() => parseTime(text, '--from', now)).toThrow(/--from .* is invalid/);
  });
});
