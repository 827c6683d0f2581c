import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { rm } from 'node:fs/promises';
import { createInterface } from 'node:readline';

/** How a child ended, however long it ran. */
async function ended(child: ChildProcess): Promise<[number | null, NodeJS.Signals | null]> {
  if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
  return [child.exitCode, child.signalCode];
}

/**
 * What systemd does for the gateway's unit, where no systemd runs (a test, a benchmark): it reads the
 * unit file and runs ExecStartPre, ExecStart and ExecStopPost with the environment systemd gives
 * (NOTIFY_SOCKET, WATCHDOG_USEC; SERVICE_RESULT, EXIT_CODE, EXIT_STATUS after a stop), restarts on
 * failure after RestartSec, kills a main process that is not ready in TimeoutStartSec or whose
 * watchdog pings stop once it is (SIGABRT, as systemd does), and gives up past StartLimitBurst starts
 * in StartLimitIntervalSec, then runs the OnFailure= unit's ExecStart lines (its `systemctl reset-failed`
 * and `systemctl start` of this unit taken as what they ask). The pings arrive through the real
 * `systemd-notify` and a datagram socket, received by python3 (Node has no unix datagram sockets).
 */

export interface UnitOverrides {
  /** Extra or replaced Environment= entries. */
  environment?: Record<string, string>;
  /** Like a drop-in: WatchdogSec, RestartSec… */
  settings?: Record<string, string>;
  /** The text of the unit OnFailure= names, run as systemd would once the start limit is hit. */
  onFailure?: string;
}

export interface ServiceLine extends Record<string, unknown> {
  /** Which start of the service printed it: 1 for the first. */
  run: number;
}

const RECEIVER = `
import os, socket, sys
path = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.settimeout(1)
parent = os.getppid()
print("listening", flush=True)
while os.getppid() == parent:
    try:
        msg, fds, _flags, _addr = socket.recv_fds(s, 4096, 16)
    except socket.timeout:
        continue
    for fd in fds:
        os.close(fd)
    for line in msg.decode(errors="replace").splitlines():
        print(line, flush=True)
`;

function parseUnit(text: string): Map<string, string[]> {
  const settings = new Map<string, string[]>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith('[')) continue;
    const at = line.indexOf('=');
    const key = line.slice(0, at);
    settings.set(key, [...(settings.get(key) ?? []), line.slice(at + 1)]);
  }
  return settings;
}

/** systemd's time spans as this unit writes them: "30", "30s", "100ms", "5min". */
function seconds(span: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|min)?$/.exec(span.trim());
  if (!match) throw new Error(`time span ${span} not understood`);
  const value = Number(match[1]);
  return match[2] === 'ms' ? value / 1000 : match[2] === 'min' ? value * 60 : value;
}

const SIGNALS: Record<string, string> = {
  SIGKILL: 'KILL',
  SIGABRT: 'ABRT',
  SIGTERM: 'TERM',
  SIGSEGV: 'SEGV',
};

export class ServiceManager {
  readonly lines: ServiceLine[] = [];
  /** How each run ended, as ExecStopPost was told. */
  readonly results: { run: number; result: string; code: string; status: string }[] = [];
  private readonly settings: Map<string, string[]>;
  private readonly onFailure: Map<string, string[]> | undefined;
  private readonly env: Record<string, string>;
  private main: ChildProcess | undefined;
  private receiver: ChildProcess | undefined;
  private stopping = false;
  private runs = 0;
  private starts: number[] = [];
  private lastPing = 0;
  private watchdogKilled = false;
  private ready = false;
  private waiters: { match: (line: ServiceLine) => boolean; resolve: (line: ServiceLine) => void }[] = [];
  private loop: Promise<void> | undefined;
  private stderrText = '';
  failed = false;

  constructor(
    unitText: string,
    private readonly socketPath: string,
    overrides: UnitOverrides = {},
  ) {
    this.settings = parseUnit(unitText);
    this.onFailure = overrides.onFailure === undefined ? undefined : parseUnit(overrides.onFailure);
    for (const [key, value] of Object.entries(overrides.settings ?? {})) this.settings.set(key, [value]);
    this.env = {};
    for (const entry of this.settings.get('Environment') ?? []) {
      const at = entry.indexOf('=');
      this.env[entry.slice(0, at)] = entry.slice(at + 1);
    }
    Object.assign(this.env, overrides.environment);
  }

  private setting(key: string): string | undefined {
    return this.settings.get(key)?.at(-1);
  }

  /** Starts the service and keeps it running as the unit says, until stop(). */
  async start(): Promise<void> {
    await rm(this.socketPath, { force: true });
    const receiver = spawn('python3', ['-c', RECEIVER, this.socketPath], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    this.receiver = receiver;
    const lines = createInterface({ input: receiver.stdout as NodeJS.ReadableStream });
    await new Promise<void>((resolve, reject) => {
      lines.once('line', () => resolve());
      receiver.once('exit', (code) => reject(new Error(`the notify receiver exited with ${code}`)));
    });
    lines.on('line', (line) => {
      if (line === 'READY=1') this.ready = true;
      if (line === 'WATCHDOG=1' || line === 'READY=1') this.lastPing = performance.now();
    });
    this.loop = this.supervise();
  }

  /** The main process of the current run. */
  get process(): ChildProcess | undefined {
    return this.main;
  }

  /** Writes to the current run's standard input (the simulated readers' tap script). */
  write(text: string): boolean {
    const stdin = this.main?.stdin;
    if (!stdin || stdin.destroyed) return false;
    stdin.write(text);
    return true;
  }

  kill(signal: NodeJS.Signals): void {
    this.main?.kill(signal);
  }

  stderr(): string {
    return this.stderrText;
  }

  /**
   * The first line, from any run, that `match` takes: already printed or still to come; with `since`
   * (a count of `lines` taken earlier), only a line printed after those.
   */
  waitFor(match: (line: ServiceLine) => boolean, timeoutMs = 30_000, since = 0): Promise<ServiceLine> {
    const seen = this.lines.slice(since).find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(`timed out waiting for a service log line; stderr: ${this.stderrText.slice(-2000)}`),
          ),
        timeoutMs,
      );
      this.waiters.push({
        match,
        resolve: (line) => {
          clearTimeout(timer);
          resolve(line);
        },
      });
    });
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.main?.kill('SIGTERM');
    await this.loop;
    this.receiver?.kill('SIGTERM');
    if (this.receiver) await ended(this.receiver);
    await rm(this.socketPath, { force: true });
  }

  private command(line: string): [string, string[]] {
    const words = line
      .split(/\s+/)
      .filter(Boolean)
      .map((word) => word.replace(/\$\{(\w+)\}/g, (_all, name: string) => this.env[name] ?? ''));
    return [words[0] as string, words.slice(1)];
  }

  private async runHelper(line: string, env: Record<string, string>): Promise<number> {
    const [file, args] = this.command(line);
    const child = spawn(file, args, {
      env: { ...process.env, ...this.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.capture(child);
    const [code] = await ended(child);
    return code ?? 1;
  }

  private capture(child: ChildProcess): void {
    const run = this.runs;
    child.stderr?.on('data', (chunk) => {
      this.stderrText += String(chunk);
    });
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (text) => {
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(text);
      } catch {
        return;
      }
      const line: ServiceLine = { ...parsed, run };
      this.lines.push(line);
      for (const waiter of [...this.waiters])
        if (waiter.match(line)) {
          this.waiters.splice(this.waiters.indexOf(waiter), 1);
          waiter.resolve(line);
        }
    });
  }

  private async supervise(): Promise<void> {
    const watchdog = seconds(this.setting('WatchdogSec') ?? '0');
    const startTimeout = seconds(this.setting('TimeoutStartSec') ?? '90');
    const restartSec = seconds(this.setting('RestartSec') ?? '0.1');
    const burst = Number(this.setting('StartLimitBurst') ?? 5);
    const interval = seconds(this.setting('StartLimitIntervalSec') ?? '10');
    while (!this.stopping) {
      const now = performance.now();
      this.starts = [...this.starts.filter((at) => now - at < interval * 1000), now];
      if (this.starts.length > burst) {
        this.failed = true;
        if (!(await this.runOnFailure())) return;
        continue;
      }
      this.runs += 1;
      let result = { result: 'success', code: 'exited', status: '0' };
      let started = true;
      for (const line of this.settings.get('ExecStartPre') ?? []) {
        const code = await this.runHelper(line, {});
        if (code !== 0) {
          result = { result: 'exit-code', code: 'exited', status: String(code) };
          started = false;
          break;
        }
      }
      if (started) result = await this.runMain(watchdog, startTimeout);
      this.results.push({ run: this.runs, ...result });
      for (const line of this.settings.get('ExecStopPost') ?? [])
        await this.runHelper(line, {
          SERVICE_RESULT: result.result,
          EXIT_CODE: result.code,
          EXIT_STATUS: result.status,
        });
      if (this.stopping || result.result === 'success') return;
      await new Promise((resolve) => setTimeout(resolve, restartSec * 1000));
    }
  }

  /**
   * The OnFailure= unit, a oneshot: its helpers in order; `systemctl reset-failed` clears the start
   * limit and `systemctl start` of this unit starts it again. True when it asked for a start.
   */
  private async runOnFailure(): Promise<boolean> {
    let startAgain = false;
    for (const line of this.onFailure?.get('ExecStart') ?? []) {
      const [file, args] = this.command(line);
      if (file.endsWith('/systemctl') && args[0] === 'reset-failed') {
        this.starts = [];
        this.failed = false;
      } else if (file.endsWith('/systemctl') && args[0] === 'start') {
        startAgain = true;
      } else if ((await this.runHelper(line, {})) !== 0) {
        return false;
      }
    }
    return startAgain && !this.stopping;
  }

  private async runMain(
    watchdog: number,
    startTimeout: number,
  ): Promise<{ result: string; code: string; status: string }> {
    const [file, args] = this.command(this.setting('ExecStart') as string);
    const child = spawn(file, args, {
      env: {
        ...process.env,
        ...this.env,
        NOTIFY_SOCKET: this.socketPath,
        ...(watchdog > 0 ? { WATCHDOG_USEC: String(Math.round(watchdog * 1e6)) } : {}),
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    child.stdin?.on('error', () => undefined);
    this.main = child;
    this.capture(child);
    const spawnedAt = performance.now();
    this.ready = false;
    this.watchdogKilled = false;
    let timedOut = false;
    // As with Type=notify: the start timeout until READY=1, the watchdog from then on.
    const timer = setInterval(() => {
      const now = performance.now();
      if (!this.ready && now - spawnedAt > startTimeout * 1000 && !timedOut) {
        timedOut = true;
        child.kill('SIGTERM');
      } else if (
        this.ready &&
        watchdog > 0 &&
        now - this.lastPing > watchdog * 1000 &&
        !this.watchdogKilled
      ) {
        this.watchdogKilled = true;
        child.kill('SIGABRT');
      }
    }, 100);
    const [code, signal] = await ended(child);
    clearInterval(timer);
    this.main = undefined;
    if (this.watchdogKilled) return { result: 'watchdog', code: 'killed', status: 'ABRT' };
    if (timedOut) return { result: 'timeout', code: 'killed', status: 'TERM' };
    if (signal) return { result: 'signal', code: 'killed', status: SIGNALS[signal] ?? signal };
    return { result: code === 0 ? 'success' : 'exit-code', code: 'exited', status: String(code) };
  }
}
