export { ReleasesConfig } from './config.js';
export { releaseFileRoutes, releaseRoutes } from './http.js';
export { ReleaseNotTaken, Releases, type ReleaseView } from './service.js';
export { ByteRate, throttled } from './throttle.js';
