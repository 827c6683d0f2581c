import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ReleaseManifest } from '@educard/terminal-sdk';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../log/index.js';
import { ReleaseRoot } from './layout.js';
import { bridgeSource, FetchInterrupted, stageRelease } from './stage.js';

const body = randomBytes(200_000);
const sha256 = createHash('sha256').update(body).digest('hex');
const manifest = {
  version: '2.0.0',
  files: [{ path: 'gateway/dist/main.js', sha256, size: body.length, executable: false }],
  links: [],
  rebuild: [],
} as unknown as ReleaseManifest;

type Answer = (request: IncomingMessage, response: ServerResponse) => void;

/** A bridge's release files endpoint that answers each request with the next scripted answer. */
let server: Server;
let answers: Answer[];
let ranges: (string | undefined)[];
let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stage-'));
  answers = [];
  ranges = [];
  server = createServer((request, response) => {
    ranges.push(request.headers.range);
    const answer = answers.shift() ?? ((_q, r) => r.writeHead(500).end());
    answer(request, response);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
});

afterEach(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

const whole: Answer = (_request, response) => response.writeHead(200).end(body);
const rest: Answer = (request, response) => {
  const start = Number(/bytes=(\d+)-/.exec(request.headers.range ?? '')?.[1] ?? 0);
  response
    .writeHead(206, { 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` })
    .end(body.subarray(start));
};

function stage(retries: number) {
  const { port } = server.address() as AddressInfo;
  return stageRelease({
    root: new ReleaseRoot(dir),
    manifest,
    envelope: {},
    source: bridgeSource(new URL(`http://127.0.0.1:${port}/v1/releases/files/`), {}),
    parallel: 1,
    retries,
    logger: createLogger('stage-test', { level: 'silent' }),
    signal: new AbortController().signal,
  });
}

describe('staging a release from the bridge', () => {
  it('tries a busy bridge and a cut download again, resuming after the bytes it has', async () => {
    answers.push(
      (_request, response) => response.writeHead(429, { 'retry-after': '0' }).end(),
      (_request, response) => {
        response.writeHead(200, { 'content-length': String(body.length) });
        response.write(body.subarray(0, 80_000));
        // Cut once the device has some of it on disk, as a link that drops mid-file.
        const part = join(new ReleaseRoot(dir).downloads, `${sha256}.part`);
        const cut = setInterval(() => {
          void stat(part)
            .then(({ size }) => {
              if (size === 0) return;
              clearInterval(cut);
              response.destroy();
            })
            .catch(() => undefined);
        }, 5);
      },
      rest,
    );
    await stage(3);
    expect(ranges[0]).toBeUndefined();
    expect(ranges[1]).toBeUndefined();
    expect(ranges[2]).toMatch(/^bytes=[1-9]\d*-$/);
    const placed = await readFile(join(new ReleaseRoot(dir).releaseDir('2.0.0'), 'gateway/dist/main.js'));
    expect(placed.equals(body)).toBe(true);
  });

  it('gives the offer up once its tries are spent, and never tries a missing file again', async () => {
    answers.push((_request, response) => response.writeHead(503, { 'retry-after': '0' }).end());
    await expect(stage(0)).rejects.toBeInstanceOf(FetchInterrupted);
    expect(ranges).toHaveLength(1);

    answers.push((_request, response) => response.writeHead(404).end(), whole);
    await expect(stage(5)).rejects.toThrow(/HTTP 404/);
    expect(ranges).toHaveLength(2);
  });
});
