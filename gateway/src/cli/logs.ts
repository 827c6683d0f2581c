import { spawn } from 'node:child_process';
import { CliError, example } from '@educard/terminal-sdk/cli';
import type { Command } from 'commander';
import { SERVICE } from './context.js';

export function registerLogs(program: Command): void {
  example(
    program
      .command('logs')
      .description(`the service's log (pino JSON lines kept by journald)`)
      .option('-f, --follow', 'go on printing new lines')
      .option('-n, --lines <count>', 'how many of the latest lines', '100')
      .option(
        '--since <time>',
        'from this time on, as journalctl takes it ("1 hour ago", "2026-11-23 08:00")',
      ),
    'educard logs -n 50',
    'educard logs -f | grep card-auth-failed',
  ).action(
    (options: { follow?: boolean; lines: string; since?: string }) =>
      new Promise<void>((resolve, reject) => {
        const args = ['-u', SERVICE, '-o', 'cat', '--no-pager', '-n', options.lines];
        if (options.follow) args.push('-f');
        if (options.since) args.push('--since', options.since);
        const child = spawn('journalctl', args, { stdio: 'inherit' });
        child.once('error', () =>
          reject(
            new CliError(
              'journalctl is not available on this system',
              1,
              'The service logs to standard output; see where your init system keeps it.',
            ),
          ),
        );
        child.once('exit', (code) => {
          if (code && code !== 0) process.exitCode = 1;
          resolve();
        });
      }),
  );
}
