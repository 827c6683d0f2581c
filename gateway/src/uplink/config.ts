import { BatchQos, BrokerNodeList, BrokerUrl, brokerNodesProblem } from '@educard/terminal-sdk';
import { z } from 'zod';

export const UplinkConfig = z
  .object({
    /** mqtt://host:1883, mqtts://host:8883 or ws(s)://host/path. */
    url: BrokerUrl,
    /**
     * The cluster's other nodes (same scheme and path as `url`): after a lost or refused connection
     * the next one is tried, so a node that is gone does not keep the device off the cluster.
     */
    failover: BrokerNodeList.default([]),
    /** The bridge's HTTP base, from which roster snapshots are fetched. */
    bridgeHttp: z.string().regex(/^https?:\/\//, 'an http:// or https:// URL'),
    /** The broker credentials the device got at enrollment. */
    username: z.string().min(1).optional(),
    password: z.string().min(1).optional(),
    tls: z
      .object({ ca: z.string().optional(), cert: z.string().optional(), key: z.string().optional() })
      .optional(),
    batch: z
      .object({
        maxRecords: z.number().int().min(1).max(1000).default(500),
        /** How long a record may wait for company before it is sent on its own. */
        maxDelayMs: z.number().int().min(1).max(10_000).default(50),
        /** Batches sent and not yet acknowledged. */
        inFlight: z.number().int().min(1).max(2048).default(8),
        /** A batch not acknowledged in this time is sent again, from the last acknowledged record. */
        ackTimeoutMs: z.number().int().min(100).default(10_000),
        /** The QoS batches are published with (BatchQos); enrollment writes the one the bridge names. */
        qos: BatchQos.default(1),
      })
      .prefault({}),
    backoff: z
      .object({
        initialMs: z.number().int().min(10).default(500),
        maxMs: z.number().int().min(100).default(30_000),
      })
      .prefault({}),
  })
  .superRefine((config, context) => {
    const problem = brokerNodesProblem(config.url, config.failover);
    if (problem) context.addIssue({ code: 'custom', path: ['failover'], message: problem });
  });
export type UplinkConfig = z.infer<typeof UplinkConfig>;
