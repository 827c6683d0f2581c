import { type DestinationStream, type Logger, type LoggerOptions, pino } from 'pino';

export type { Logger };

export interface LoggerSettings {
  level?: LoggerOptions['level'];
  /** Where lines go; standard output when absent. */
  destination?: DestinationStream;
}

/** JSON lines with pino; the `redact` paths keep secrets and full card ids out of any line. */
export function createLogger(name: string, settings: LoggerSettings = {}): Logger {
  const options: LoggerOptions = {
    name,
    level: settings.level ?? process.env.EDUCARD_LOG_LEVEL ?? 'info',
    redact: {
      // Two levels deep: a config section (uplink, station.sip2) logged whole keeps its password out too.
      paths: [
        'cardId',
        '*.cardId',
        'seed',
        '*.seed',
        'password',
        '*.password',
        '*.*.password',
        'token',
        '*.token',
      ],
      censor: '[redacted]',
    },
  };
  return settings.destination ? pino(options, settings.destination) : pino(options);
}
