import { z } from 'zod';

/**
 * The Prometheus endpoint (docs/metrics.md): `GET /metrics` on a listener of its own, since a gate
 * serves nothing else over HTTP. With a token, a scrape must present it as a bearer token.
 */
export const MetricsConfig = z.object({
  host: z.string().default('0.0.0.0'),
  port: z.number().int().min(0).max(65535).default(9464),
  token: z.string().min(16, 'at least 16 characters').optional(),
});
export type MetricsConfig = z.infer<typeof MetricsConfig>;
