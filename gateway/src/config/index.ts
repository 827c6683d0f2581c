import { resolve } from 'node:path';
import { describeIssues, Identifier } from '@educard/terminal-sdk';
import { httpListenerLimits } from '@educard/terminal-sdk/listeners';
import { z } from 'zod';
// The schemas straight from their files, not the folders' index: those load johnny-five and mqtt,
// and every `educard` command reads this module before it does anything.
import { IoConfig } from '../io/config.js';
import { MetricsConfig } from '../metrics/config.js';
import { PolicyConfig } from '../policy/config.js';
import { TerminalsConfig } from '../terminals/config.js';
import { UpdateConfig } from '../updates/config.js';
import { UplinkConfig } from '../uplink/config.js';
import { ConfigError, readConfigJson, relativeToConfig } from './file.js';
import { JournalSettings, ReadersConfig, StationConfig } from './schema.js';

export { ConfigError, DEFAULT_CONFIG } from './file.js';

export {
  GateStationSettings,
  JournalSettings,
  LabStationSettings,
  LibraryStationSettings,
  ReaderBinding,
  ReadersConfig,
  StationConfig,
  VenueStationSettings,
} from './schema.js';

/** The gateway's whole configuration: one schema, defaults in one place, every error reported at once. */
export const GatewayConfig = z.object({
  device: z.object({ id: Identifier, school: Identifier }),
  /** Where the journal, the roster and the device state live; relative to the config file. */
  dataDir: z.string().min(1),
  station: StationConfig,
  readers: ReadersConfig.prefault({}),
  io: IoConfig.prefault({}),
  policy: PolicyConfig.prefault({}),
  journal: JournalSettings.prefault({}),
  clock: z
    .object({
      /**
       * The real-time clock's sysfs directory (/dev/rtc0 is /sys/class/rtc/rtc0), or false: while it
       * reports a valid time, events are trusted before NTP answers (docs/gateway.md, Time).
       */
      rtc: z.union([z.string().min(1), z.literal(false)]).default('/sys/class/rtc/rtc0'),
    })
    .prefault({}),
  /** Where the device's own key lives; made on first start when missing. Relative to dataDir. */
  identity: z.object({ keyFile: z.string().min(1).default('device-key.json') }).prefault({}),
  /**
   * The local control socket the `educard` command talks to. The service makes it readable and
   * writable by its own user and group only (mode 0660): technicians in that group, and root.
   */
  control: z.object({ socket: z.string().min(1).default('control.sock') }).prefault({}),
  /**
   * The broker terminals on the LAN use (a desk page, a kiosk), with their credentials
   * (docs/terminals.md); for a library or computer-room station.
   */
  terminals: TerminalsConfig.optional(),
  /** The terminal pages (desk.html, kiosk.html), served with the terminal broker's WebSocket at /mqtt. */
  pages: z
    .object({
      host: z.string().default('0.0.0.0'),
      port: z.number().int().min(0).max(65535).default(8080),
      /** Connections and request timing, held for anyone on the LAN (docs/security.md). */
      limits: httpListenerLimits({
        maxConnections: 64,
        maxPerAddress: 16,
        headersTimeoutMs: 10_000,
        requestTimeoutMs: 30_000,
      }).prefault({}),
    })
    .optional(),
  /** The link to the cloud bridge; without it the gateway runs on its own. */
  uplink: UplinkConfig.optional(),
  /** Prometheus metrics on a listener of their own (docs/metrics.md); none unless configured. */
  metrics: MetricsConfig.optional(),
  /** Software updates from the bridge (docs/updates.md). */
  update: UpdateConfig.prefault({}),
  log: z
    .object({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') })
    .prefault({}),
});
export type GatewayConfig = z.infer<typeof GatewayConfig>;
export type GatewayConfigInput = z.input<typeof GatewayConfig>;

export function parseConfig(value: unknown, path = '(inline)'): GatewayConfig {
  const result = GatewayConfig.safeParse(value);
  if (!result.success) throw new ConfigError(path, describeIssues(result.error));
  return result.data;
}

/** Reads and validates a config file; paths inside it are taken relative to the file. */
export async function loadConfig(path: string): Promise<GatewayConfig> {
  const value = await readConfigJson(path);
  const config = parseConfig(value, path);
  config.dataDir = relativeToConfig(path, config.dataDir);
  config.update.root = relativeToConfig(path, config.update.root);
  const tls = config.uplink?.tls;
  if (tls)
    for (const key of ['ca', 'cert', 'key'] as const)
      if (tls[key]) tls[key] = relativeToConfig(path, tls[key]);
  const sip2Tls = config.station.type === 'library' ? config.station.sip2?.tls : undefined;
  if (sip2Tls)
    for (const key of ['ca', 'cert', 'key'] as const)
      if (sip2Tls[key]) sip2Tls[key] = relativeToConfig(path, sip2Tls[key]);
  if (config.readers.script && config.readers.script !== '-')
    config.readers.script = relativeToConfig(path, config.readers.script);
  return config;
}

/** Where the control socket is: `control.socket`, relative to the data directory. */
export const controlSocketPath = (config: GatewayConfig): string =>
  resolve(config.dataDir, config.control.socket);
