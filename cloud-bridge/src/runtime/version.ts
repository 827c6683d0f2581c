import { readFileSync } from 'node:fs';

/** The version of the bridge's package, as `--version`, the metrics and the Debian package give it. */
export const BRIDGE_VERSION: string = JSON.parse(
  readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
).version;
