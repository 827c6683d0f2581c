export { metricsRoutes } from './http.js';
export { type BridgeMetricSources, BridgeMetrics } from './metrics.js';
