import { z } from 'zod';

/**
 * What an MQTT listener takes before and after authentication. Every count and size is checked as
 * bytes arrive, before anything is buffered: a stranger's connection costs at most `maxConnectBytes`.
 */
export interface MqttListenerLimits {
  /** Connections in all, authenticated or not. */
  maxConnections: number;
  /** Connections from one address (an IPv6 address counts by its /64). */
  maxPerAddress: number;
  /** Connections that have not authenticated yet, in all. */
  maxPending: number;
  /** Time from the TCP or WebSocket connection to a complete CONNECT packet. */
  connectTimeoutMs: number;
  /** The largest CONNECT (its remaining length): the first packet, before any credential is checked. */
  maxConnectBytes: number;
  /** The largest packet after it (remaining length); a larger one closes the connection. */
  maxPacketBytes: number;
}

const count = z.number().int().min(1);

/** The schema of an MQTT listener's `limits` section, with the defaults of the side that runs it. */
export function mqttListenerLimits(defaults: MqttListenerLimits) {
  return z
    .object({
      maxConnections: count.default(defaults.maxConnections),
      maxPerAddress: count.default(defaults.maxPerAddress),
      maxPending: count.default(defaults.maxPending),
      connectTimeoutMs: z.number().int().min(100).default(defaults.connectTimeoutMs),
      maxConnectBytes: z.number().int().min(64).default(defaults.maxConnectBytes),
      maxPacketBytes: z
        .number()
        .int()
        .min(1024)
        .max(256 * 1024 * 1024)
        .default(defaults.maxPacketBytes),
    })
    .superRefine((limits, context) => {
      if (limits.maxPending > limits.maxConnections)
        context.addIssue({ code: 'custom', path: ['maxPending'], message: 'must not exceed maxConnections' });
      if (limits.maxConnectBytes > limits.maxPacketBytes)
        context.addIssue({
          code: 'custom',
          path: ['maxConnectBytes'],
          message: 'must not exceed maxPacketBytes',
        });
    })
    .prefault({});
}

/** What an HTTP listener takes: connections, and how long a request may take to arrive. */
export interface HttpListenerLimits {
  maxConnections: number;
  maxPerAddress: number;
  /** Time to receive a request's headers. */
  headersTimeoutMs: number;
  /** Time to receive a whole request, body included. */
  requestTimeoutMs: number;
}

/** The schema of an HTTP listener's connection and timing limits, with the side's defaults. */
export function httpListenerLimits(defaults: HttpListenerLimits) {
  return z.object({
    maxConnections: count.default(defaults.maxConnections),
    maxPerAddress: count.default(defaults.maxPerAddress),
    headersTimeoutMs: z.number().int().min(100).default(defaults.headersTimeoutMs),
    requestTimeoutMs: z.number().int().min(100).default(defaults.requestTimeoutMs),
  });
}
