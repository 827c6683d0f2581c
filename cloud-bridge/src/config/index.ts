import {
  BatchQos,
  BrokerNodeList,
  BrokerUrl,
  brokerNodesProblem,
  describeIssues,
  MAX_MESSAGE_BYTES,
} from '@educard/terminal-sdk';
import { httpListenerLimits, isAddressOrRange, mqttListenerLimits } from '@educard/terminal-sdk/listeners';
import { z } from 'zod';
import { AccountsConfig } from '../accounts/config.js';
import { AttendanceConfig } from '../attendance/config.js';
import { NoticesConfig } from '../notices/config.js';
import { OpsConfig } from '../ops/config.js';
import { ReleasesConfig } from '../releases/config.js';
import { RetentionConfig } from '../retention/config.js';
import { RolloutsConfig } from '../rollouts/config.js';

export const BridgeConfig = z
  .object({
    /** Where the database lives (with SQLite), and the bridge's other files. */
    dataDir: z.string().min(1),
    /**
     * The database: SQLite in `dataDir` unless a PostgreSQL URL is given, which several bridge
     * instances may share (docs/scale-out.md). libpq's URL form: `postgres://user@host/db` or, for a
     * unix socket, `postgresql://user@/db?host=/run/postgresql`.
     */
    store: z
      .object({
        url: z.string().regex(/^postgres(ql)?:\/\//, 'a postgres:// or postgresql:// URL'),
        /** How long one statement may run before the server cancels it (STATEMENT_TIMEOUT_MS, 15 s). */
        statementTimeoutMs: z.number().int().min(100).max(3_600_000).optional(),
      })
      .optional(),
    /**
     * How several bridge instances on one PostgreSQL share the work (docs/scale-out.md): singleton
     * work and the devices' partitions are leases in the database.
     */
    cluster: z
      .object({
        /**
         * The devices' partitions, each held by one instance, when the instances share a broker
         * without shared subscriptions (NATS): several per instance, so that shares come out even.
         */
        partitions: z.number().int().min(1).max(1024).default(16),
        /** A dead instance's work moves to the others within this and a third of it. */
        leaseTtlMs: z.number().int().min(1000).max(60_000).default(6000),
      })
      .prefault({}),
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
        url: BrokerUrl.optional(),
        /**
         * The external cluster's other nodes (same scheme and path as `url`): after a lost or refused
         * connection the next one is tried, so a node that is gone does not cut the instance off.
         */
        failover: BrokerNodeList.default([]),
        username: z.string().optional(),
        password: z.string().optional(),
        /** Shared-subscription group when several bridges consume one external broker. */
        shareGroup: z
          .string()
          .regex(/^[A-Za-z0-9_-]+$/)
          .optional(),
        /** The broker URL devices are told at enrollment; by default the one the bridge uses. */
        publicUrl: z.string().optional(),
        /**
         * The other nodes devices are told at enrollment (their `uplink.failover`); by default the
         * bridge's own `failover` when devices are told its own URL, and none with a `publicUrl`.
         */
        publicFailover: BrokerNodeList.optional(),
        /**
         * Publish each ack retained, as gateways of the version before need; gateways that ask for
         * their last ack in their birth do not, and on a JetStream-backed cluster every retained
         * message is a replicated write (docs/scale-out.md).
         */
        retainAcks: z.boolean().default(true),
        /**
         * The QoS devices are told at enrollment to publish their batches with (their
         * `uplink.batch.qos`). Unset: 0 with NATS device accounts (every QoS 1 publish there is a
         * replicated JetStream write), and nothing said otherwise (the gateway's default, 1).
         */
        deviceBatchQos: BatchQos.optional(),
        /**
         * A connection whose SUBSCRIBEs the broker has not granted in this time is ended and made
         * again (a clustered node back from a crash can hold them while it recovers); until they are
         * granted the instance is not ready for its partitions.
         */
        subscribeTimeoutMs: z.number().int().min(500).default(30_000),
        /**
         * How often an instance on an external broker without `shareGroup` sends itself a probe
         * through its events subscription; none heard for `subscribeTimeoutMs` ends the
         * connection, and until one is heard on a connection the instance takes no partitions.
         * The broker must let the bridge's user publish to `educard/v1/_bridge/#`; 0 turns it off.
         */
        probeEveryMs: z.number().int().min(0).default(5_000),
        /**
         * Who provisions device accounts in an external broker. Without it the external broker must
         * admit and cut off devices itself (the embedded broker needs nothing).
         */
        deviceAccounts: z
          .object({
            kind: z.literal('nats'),
            /** The file every NATS node's configuration includes (`include`); the bridge rewrites it. */
            authFile: z.string().min(1),
            /** Each node's pid file (reloaded with SIGHUP) and monitoring URL (`/varz`). */
            nodes: z.array(z.object({ pidFile: z.string().min(1), monitorUrl: z.url() })).min(1),
            hashRounds: z.number().int().min(4).max(14).default(6),
          })
          .optional(),
        /** What the embedded broker's listeners take before and after authentication (docs/security.md). */
        limits: mqttListenerLimits({
          maxConnections: 5000,
          // A school's gateways may all reach the bridge through one NAT address.
          maxPerAddress: 100,
          maxPending: 200,
          connectTimeoutMs: 10_000,
          maxConnectBytes: 16 * 1024,
          // An event batch at the contract's limit, with its topic and header, and room above it so that
          // a batch a little too large is refused by ingest with a reason, not by a closed connection.
          maxPacketBytes: MAX_MESSAGE_BYTES + 64 * 1024,
        }),
      })
      .prefault({}),
    http: z
      .object({
        host: z.string().default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(8080),
        /** Serve the pages (attendance, operations, accounts) beside the API, when they are built. */
        pages: z.boolean().default(true),
        /**
         * The reverse proxies that terminate TLS in front of the bridge (addresses or CIDR ranges): from
         * them, X-Forwarded-For names the client and X-Forwarded-Proto the scheme; from anyone else
         * both are ignored. None by default.
         */
        trustProxy: z.array(z.string().refine(isAddressOrRange, 'an IP address or a CIDR range')).default([]),
        /** Connections, request timing and body sizes, held before authentication (docs/security.md). */
        limits: httpListenerLimits({
          // With bodyBytes, what bodies still arriving can hold at most: 512 × 64 KiB = 32 MB.
          maxConnections: 512,
          maxPerAddress: 64,
          headersTimeoutMs: 10_000,
          // A roster import of 25 MB needs 1.7 Mbit/s to arrive in time.
          requestTimeoutMs: 120_000,
        })
          .extend({
            /** Every route's largest body, the public ones (sign-in, enrollment) included. */
            bodyBytes: z
              .number()
              .int()
              .min(1024)
              .default(64 * 1024),
            /** The bulk imports' largest body (roster, catalogue): read only once the caller is authenticated. */
            importBodyBytes: z
              .number()
              .int()
              .min(1024)
              .default(25 * 1024 * 1024),
          })
          .prefault({}),
      })
      .prefault({}),
    /** Sync with the central student-record system (docs/central.md); off unless asked for. */
    central: z
      .object({
        /** `api`: the change feed and the event push over HTTPS; `file`: CSV and JSON lines in directories. */
        mode: z.enum(['off', 'api', 'file']).default('off'),
        /** The central system's base URL (HTTPS in production). */
        url: z.url().optional(),
        /** Its bearer token. */
        token: z.string().min(16, 'at least 16 characters').optional(),
        /** How long one call may take before it counts as failed. */
        timeoutMs: z.number().int().min(100).default(10_000),
        feed: z
          .object({
            intervalMs: z.number().int().min(1000).default(300_000),
            pageSize: z.number().int().min(1).max(1000).default(500),
          })
          .prefault({}),
        push: z
          .object({
            intervalMs: z.number().int().min(10).default(1000),
            batchSize: z.number().int().min(1).max(10_000).default(500),
            backoffBaseMs: z.number().int().min(1).default(1000),
            backoffMaxMs: z.number().int().min(1).default(300_000),
            /** Refusals of one event before it moves to the dead letters. */
            maxAttempts: z.number().int().min(1).default(10),
            /** Unreachable for longer than this raises the `central.unreachable` alarm. */
            unreachableAlarmMs: z.number().int().min(0).default(900_000),
          })
          .prefault({}),
        files: z
          .object({
            /** Roster CSVs to import; by default `dataDir/central/inbox`. */
            inboxDir: z.string().min(1).optional(),
            /** Where events (CSV and JSON lines) and attendance go; by default `dataDir/central/outbox`. */
            outboxDir: z.string().min(1).optional(),
            importIntervalMs: z.number().int().min(10).default(60_000),
            exportIntervalMs: z.number().int().min(10).default(60_000),
          })
          .prefault({}),
      })
      .prefault({}),
    /** Attendance from the gate passages (docs/attendance.md). */
    attendance: AttendanceConfig.prefault({}),
    /** Parent notices to the schools' webhooks (docs/notices.md); none unless configured. */
    notices: NoticesConfig.prefault({}),
    /** Accounts of the pages: session lifetimes and sign-in throttling (docs/accounts.md). */
    accounts: AccountsConfig.prefault({}),
    /** Alarm thresholds of the operations view (docs/operations.md). */
    ops: OpsConfig.prefault({}),
    /**
     * Prometheus metrics (docs/metrics.md): `GET /metrics` on the HTTP listener, for a scrape job that
     * presents this token as a bearer token; without a token the route is not there.
     */
    metrics: z.object({ token: z.string().min(16, 'at least 16 characters').optional() }).prefault({}),
    /** Release files for devices: download rates (docs/updates.md). */
    releases: ReleasesConfig.prefault({}),
    /** Rollouts: the arrival and dismissal windows no gateway switches in (docs/updates.md). */
    rollouts: RolloutsConfig.prefault({}),
    /** How long events are kept, per type and school, and when a leaver's data is anonymised (docs/privacy.md). */
    retention: RetentionConfig.prefault({}),
    log: z
      .object({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
      })
      .prefault({}),
  })
  .superRefine((config, context) => {
    if (config.central.mode === 'api') {
      for (const field of ['url', 'token'] as const)
        if (!config.central[field])
          context.addIssue({
            code: 'custom',
            path: ['central', field],
            message: `api mode needs the central system's ${field}`,
          });
    }
    if (
      config.mqtt.deviceAccounts &&
      (config.mqtt.embedded || !config.mqtt.username || !config.mqtt.password)
    ) {
      context.addIssue({
        code: 'custom',
        path: ['mqtt', 'deviceAccounts'],
        message: "device accounts are for an external broker, with the bridge's own username and password",
      });
    }
    if (!config.mqtt.embedded && !config.mqtt.url) {
      context.addIssue({
        code: 'custom',
        path: ['mqtt', 'url'],
        message: 'an external broker needs its URL',
      });
    }
    const lists = [
      ['failover', config.mqtt.url, config.mqtt.failover],
      ['publicFailover', config.mqtt.publicUrl ?? config.mqtt.url, config.mqtt.publicFailover],
    ] as const;
    for (const [field, first, others] of lists) {
      const problem = first && others && brokerNodesProblem(first, others);
      if (problem) context.addIssue({ code: 'custom', path: ['mqtt', field], message: problem });
    }
  });
export type BridgeConfig = z.infer<typeof BridgeConfig>;
export type BridgeConfigInput = z.input<typeof BridgeConfig>;

export function parseBridgeConfig(value: unknown): BridgeConfig {
  const result = BridgeConfig.safeParse(value);
  if (!result.success) throw new Error(`bridge configuration is not valid: ${describeIssues(result.error)}`);
  return result.data;
}
