import { execFile } from 'node:child_process';

/** What the notifier logs through: a pino logger, or anything with pino's `warn(fields, message)`. */
export interface NotifyLogger {
  warn(fields: Record<string, unknown>, message: string): void;
}

/**
 * Tells systemd the service is ready and keeps its watchdog fed, through `systemd-notify` (Node has
 * no datagram unix sockets; the units set NotifyAccess=all for it). The pings come from a timer on
 * the event loop, so a loop that hangs stops them and systemd restarts the service. Without
 * NOTIFY_SOCKET (not under systemd) this does nothing. Returns the function that says STOPPING=1.
 * The gateway and the bridge both run under `Type=notify` units through this one function.
 */
export function notifySystemd(logger: NotifyLogger, status: string): () => void {
  if (!process.env.NOTIFY_SOCKET) return () => undefined;
  const send = (...states: string[]) =>
    execFile('systemd-notify', [`--pid=${process.pid}`, ...states], (error) => {
      if (error) logger.warn({ err: error.message, states }, 'systemd-notify failed');
    });
  send('--ready', `STATUS=${status}`);
  const watchdogUsec = Number(process.env.WATCHDOG_USEC ?? 0);
  const timer =
    watchdogUsec > 0
      ? setInterval(() => send('WATCHDOG=1'), Math.max(1000, watchdogUsec / 2000)).unref()
      : undefined;
  return () => {
    clearInterval(timer);
    send('STOPPING=1');
  };
}
