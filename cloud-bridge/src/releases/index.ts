export { ReleasesConfig } from './config.js';
export { releaseFileRoutes, releaseRoutes } from './http.js';
export { type HeldRelease, ReleaseNotTaken, Releases, type ReleaseView } from './service.js';
export { ByteRate, throttled } from './throttle.js';
