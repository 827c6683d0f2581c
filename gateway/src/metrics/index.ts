export { MetricsConfig } from './config.js';
export { type GatewayMetricSources, GatewayMetrics } from './metrics.js';
export { MetricsServer } from './server.js';
