import { describeIssues } from '@educard/terminal-sdk';
import { z } from 'zod';

export const BridgeConfig = z
  .object({
    /** Where the database lives. */
    dataDir: z.string().min(1),
    /** The bearer token of the admin HTTP API. */
    adminToken: z.string().min(16, 'at least 16 characters'),
    mqtt: z
      .object({
        /** Run aedes inside the bridge (the default), or use the broker at `url`. */
        embedded: z.boolean().default(true),
        host: z.string().default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(1883),
        /** WebSocket listener of the embedded broker, for pages. */
        wsPort: z.number().int().min(0).max(65535).optional(),
        /** An external broker (Mosquitto, EMQX, HiveMQ), with the bridge's own credentials there. */
        url: z
          .string()
          .regex(/^(mqtts?|wss?):\/\//)
          .optional(),
        username: z.string().optional(),
        password: z.string().optional(),
        /** Shared-subscription group when several bridges consume one external broker. */
        shareGroup: z
          .string()
          .regex(/^[A-Za-z0-9_-]+$/)
          .optional(),
        /** The broker URL devices are told at enrollment; by default the one the bridge uses. */
        publicUrl: z.string().optional(),
      })
      .prefault({}),
    http: z
      .object({
        host: z.string().default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(8080),
      })
      .prefault({}),
    log: z
      .object({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
      })
      .prefault({}),
  })
  .superRefine((config, context) => {
    if (!config.mqtt.embedded && !config.mqtt.url) {
      context.addIssue({
        code: 'custom',
        path: ['mqtt', 'url'],
        message: 'an external broker needs its URL',
      });
    }
  });
export type BridgeConfig = z.infer<typeof BridgeConfig>;
export type BridgeConfigInput = z.input<typeof BridgeConfig>;

export function parseBridgeConfig(value: unknown): BridgeConfig {
  const result = BridgeConfig.safeParse(value);
  if (!result.success) throw new Error(`bridge configuration is not valid: ${describeIssues(result.error)}`);
  return result.data;
}
