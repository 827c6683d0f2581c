import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { REPO_ROOT } from '../paths.js';
import { exited } from './mosquitto.js';

export interface BridgeProcess {
  child: ChildProcess;
  http: string;
  /** Every log line the bridge has written that `keep` matched. */
  lines: string[];
  stop(): Promise<void>;
  /** SIGKILL, as a host failure. */
  kill(): Promise<void>;
}

/**
 * `educard-bridge serve` as a separate process, as it runs in production, with its data in
 * `dir/bridge` and `config` merged over free ports; resolves once it has said "bridge started".
 */
export async function startBridgeProcess(
  dir: string,
  config: Record<string, unknown>,
  keep: (line: string) => boolean = () => false,
): Promise<BridgeProcess> {
  await mkdir(join(dir, 'bridge'), { recursive: true });
  const path = join(dir, 'bridge.json');
  await writeFile(
    path,
    JSON.stringify({ dataDir: join(dir, 'bridge'), http: { port: 0 }, log: { level: 'info' }, ...config }),
  );
  const child = spawn(
    process.execPath,
    [join(REPO_ROOT, 'cloud-bridge/dist/cli/main.js'), 'serve', '--config', path],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const lines: string[] = [];
  let timer: NodeJS.Timeout | undefined;
  const http = await new Promise<string>((resolve, reject) => {
    // The bridge's output is read to its end, or a full pipe would stall it.
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      if (keep(line)) lines.push(line);
      if (line.includes('"bridge started"')) resolve(JSON.parse(line).http as string);
    });
    child.once('exit', (code) => reject(new Error(`bridge exited with ${code}`)));
    // Its "bridge started" line is at info: a config that logs less would otherwise be waited on for ever.
    timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(
          'the bridge did not say "bridge started" within 120 s (its log level must be info or lower)',
        ),
      );
    }, 120_000);
  }).finally(() => clearTimeout(timer));
  return {
    child,
    http,
    lines,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await exited(child, 30_000);
    },
    kill: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await exited(child);
    },
  };
}
