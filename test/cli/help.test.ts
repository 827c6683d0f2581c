import { describe, expect, it } from 'vitest';
import { BRIDGE_CLI, EDUCARD, runCommand } from '../support/cli.js';

/** The subcommands a `--help` screen lists under "Commands:". */
function subcommands(help: string): string[] {
  const section = help.split('\nCommands:\n')[1]?.split('\n\n')[0] ?? '';
  return section
    .split('\n')
    .map((line) => /^ {2}([a-z][a-z-]*)/.exec(line)?.[1])
    .filter((name): name is string => name !== undefined && name !== 'help');
}

/** Every command path of a program, found by walking its help screens. */
async function commandPaths(
  script: string,
  prefix: string[] = [],
): Promise<{ path: string[]; help: string }[]> {
  const run = await runCommand(script, [...prefix, '--help']);
  expect(run.code, `${prefix.join(' ')} --help`).toBe(0);
  const found = [{ path: prefix, help: run.stdout }];
  for (const name of subcommands(run.stdout)) found.push(...(await commandPaths(script, [...prefix, name])));
  return found;
}

describe.each([
  ['educard', EDUCARD],
  ['educard-bridge', BRIDGE_CLI],
])('%s', (name, script) => {
  // One child process per command: the bridge's and the gateway's update commands made it twice as many.
  it('has --help with an example on every command, and exit code 2 for bad usage', {
    timeout: 240_000,
  }, async () => {
    const commands = await commandPaths(script);
    expect(commands.length).toBeGreaterThan(10);
    for (const { path, help } of commands) {
      expect(help, `${name} ${path.join(' ')}`).toMatch(/\nExample:\n {2}\$ /);
    }
    const leaves = commands.filter((c) => subcommands(c.help).length === 0);
    for (const { path } of leaves.slice(0, 6)) {
      const bad = await runCommand(script, [...path, '--no-such-flag']);
      expect(bad.code, `${name} ${path.join(' ')} --no-such-flag`).toBe(2);
      expect(bad.stderr).toMatch(
        /^error: (unknown option '--no-such-flag'|required option|missing required argument)/,
      );
    }
    const groups = commands.filter((c) => c.path.length > 0 && subcommands(c.help).length > 0);
    for (const { path } of groups) {
      expect((await runCommand(script, path)).code, `${name} ${path.join(' ')} with no subcommand`).toBe(2);
    }
  });
});
