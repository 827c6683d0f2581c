import { Identifier, Sha256Hex } from '@educard/terminal-sdk';
import { mqttListenerLimits } from '@educard/terminal-sdk/listeners';
import { z } from 'zod';

const Port = z.number().int().min(0).max(65_535);

/** The largest request a terminal may send; a larger one is answered `malformed`. */
export const MAX_REQUEST_BYTES = 64 * 1024;

/**
 * A school LAN has a few desks and kiosks: a stranger's sockets must not add up to what a Raspberry Pi
 * cannot spare (docs/security.md).
 */
export const TERMINAL_BROKER_LIMITS = {
  maxConnections: 64,
  maxPerAddress: 8,
  maxPending: 16,
  connectTimeoutMs: 10_000,
  maxConnectBytes: 4096,
  // Room above the request limit, so that a request a little over it is still read and answered.
  maxPacketBytes: 2 * MAX_REQUEST_BYTES,
};

/** One terminal allowed on the LAN broker: its id (the MQTT user name), a digest of its password, its stations. */
export const TerminalEntry = z.object({
  id: Identifier,
  /** SHA-256 of the password, in lower-case hex: the password itself is never stored. */
  passwordSha256: Sha256Hex,
  /** The stations whose topics the terminal may use. */
  stations: z.array(Identifier).min(1),
});
export type TerminalEntry = z.infer<typeof TerminalEntry>;

/** The gateway's broker for the terminals on its LAN (desk pages, kiosks). */
export const TerminalsConfig = z
  .object({
    host: z.string().min(1).default('0.0.0.0'),
    /** MQTT over TCP; 0 picks a free port. */
    port: Port.default(1884),
    /** MQTT over WebSocket, where pages connect; 0 picks a free port, `false` turns the listener off
     * (when the pages' own server carries the WebSocket: `TerminalHub.attachWebSocket`). */
    wsPort: z.union([Port, z.literal(false)]).default(8084),
    terminals: z.array(TerminalEntry).default([]),
    /** Connections, packet sizes and the connect timeout, held before a terminal logs in. */
    limits: mqttListenerLimits(TERMINAL_BROKER_LIMITS),
  })
  .superRefine((config, ctx) => {
    const seen = new Set<string>();
    config.terminals.forEach((terminal, index) => {
      if (seen.has(terminal.id)) {
        ctx.addIssue({
          code: 'custom',
          path: ['terminals', index, 'id'],
          message: `terminal "${terminal.id}" is listed twice`,
        });
      }
      seen.add(terminal.id);
    });
    if (config.wsPort !== false && config.wsPort !== 0 && config.wsPort === config.port) {
      ctx.addIssue({ code: 'custom', path: ['wsPort'], message: 'must differ from port' });
    }
  });
export type TerminalsConfig = z.infer<typeof TerminalsConfig>;
/** The section as written in the configuration file, before defaults. */
export type TerminalsConfigInput = z.input<typeof TerminalsConfig>;
