import { execFile } from 'node:child_process';
import type { Logger } from '../log/index.js';

/**
 * Tells systemd the service is ready and keeps its watchdog fed, through `systemd-notify` (Node has
 * no datagram unix sockets; the unit sets NotifyAccess=all for it). The pings come from a timer on
 * the event loop, so a loop that hangs stops them and systemd restarts the gateway. Without
 * NOTIFY_SOCKET (not under systemd) this does nothing.
 */
export function notifySystemd(logger: Logger): () => void {
  if (!process.env.NOTIFY_SOCKET) return () => undefined;
  const send = (...states: string[]) =>
    execFile('systemd-notify', [`--pid=${process.pid}`, ...states], (error) => {
      if (error) logger.warn({ err: error.message, states }, 'systemd-notify failed');
    });
  send('--ready', `STATUS=gateway running`);
  const watchdogUsec = Number(process.env.WATCHDOG_USEC ?? 0);
  if (!(watchdogUsec > 0)) return () => undefined;
  const timer = setInterval(() => send('WATCHDOG=1'), Math.max(1000, watchdogUsec / 2000));
  timer.unref();
  return () => {
    clearInterval(timer);
    send('STOPPING=1');
  };
}
