import { readFileSync } from 'node:fs';
import { DataFormats, ReleaseVersion } from '@educard/terminal-sdk';
import { z } from 'zod';

const GatewayPackage = z.object({ version: ReleaseVersion, dataFormats: DataFormats });

/**
 * What this build of the gateway is: its version and the data formats it reads and writes, from the
 * gateway's package.json (a release's builder writes the release's version there), so that a release
 * reports exactly what it is wherever it was installed from.
 */
export const FIRMWARE = GatewayPackage.parse(
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')),
);
