import { spawnSync } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bridge } from '@educard/cloud-bridge';
import type { Gateway, SimulatedReaderDriver } from '@educard/gateway';
import { type Mosquitto, startMosquitto } from '@educard/scripts/support';
import { sampleUid } from '@educard/terminal-sdk/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enrollDevice, startBridge, startUplinkGateway } from '../support/bridge.js';

// The uplink over mqtts: Mosquitto (a separate process) with a TLS listener that wants a client
// certificate from the school's CA; the bridge beside it on the plain loopback listener.

let dir: string;
let mosquitto: Mosquitto;
let bridge: Bridge;
const gateways: Gateway[] = [];

function openssl(...args: string[]): void {
  const run = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${run.stderr}`);
}

/** A CA and what it signs: the broker's certificate for 127.0.0.1 and the devices' certificates. */
async function makeCertificates(prefix: string): Promise<void> {
  openssl(
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-days',
    '2',
    '-subj',
    `/CN=${prefix} school CA`,
    '-keyout',
    `${prefix}-ca.key`,
    '-out',
    `${prefix}-ca.pem`,
  );
  await writeFile(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1\n');
  for (const [name, ext] of [
    ['server', ['-extfile', 'server.ext']],
    ['gate-tls', []],
  ] as const) {
    openssl(
      'req',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-subj',
      `/CN=${name}`,
      '-keyout',
      `${prefix}-${name}.key`,
      '-out',
      `${prefix}-${name}.csr`,
    );
    openssl(
      'x509',
      '-req',
      '-in',
      `${prefix}-${name}.csr`,
      '-CA',
      `${prefix}-ca.pem`,
      '-CAkey',
      `${prefix}-ca.key`,
      '-CAcreateserial',
      '-days',
      '2',
      '-out',
      `${prefix}-${name}.pem`,
      ...ext,
    );
  }
}

async function startGateway(device: string, tls: { ca: string; cert?: string; key?: string }) {
  const credentials = await enrollDevice(bridge.httpUrl, join(dir, device), device);
  const gateway = await startUplinkGateway(join(dir, device), device, credentials, bridge.httpUrl, {
    url: mosquitto.tlsUrl,
    tls,
    backoff: { initialMs: 50, maxMs: 300 },
  });
  gateways.push(gateway);
  return gateway;
}

async function until(check: () => boolean, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return true;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tls-'));
  // Mosquitto reads its certificates after dropping to its own user.
  await chmod(dir, 0o755);
  await makeCertificates('good');
  await makeCertificates('other');
  for (const file of ['good-ca.pem', 'good-server.pem', 'good-server.key'])
    await chmod(join(dir, file), 0o644);
  mosquitto = await startMosquitto(dir, {
    maxQueued: 100_000,
    tls: {
      ca: join(dir, 'good-ca.pem'),
      cert: join(dir, 'good-server.pem'),
      key: join(dir, 'good-server.key'),
      requireCertificate: true,
    },
  });
  bridge = await startBridge(join(dir, 'bridge'), { mqtt: { embedded: false, url: mosquitto.url } });
}, 60_000);

afterAll(async () => {
  for (const gateway of gateways) await gateway.stop();
  await bridge?.stop();
  await mosquitto?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('uplink over TLS with client certificates', () => {
  it('delivers events over mqtts with the school CA and the device certificate', async () => {
    const gateway = await startGateway('gate-tls', {
      ca: join(dir, 'good-ca.pem'),
      cert: join(dir, 'good-gate-tls.pem'),
      key: join(dir, 'good-gate-tls.key'),
    });
    expect(await until(() => gateway.uplink?.status().connected === true)).toBe(true);
    const driver = gateway.readers as SimulatedReaderDriver;
    for (let i = 1; i <= 5; i++) driver.present('sim-in', { uid: sampleUid(i) });
    const lastSeq = gateway.journal.stats().lastSeq;
    expect(await until(() => bridge.store.cursor('gate-tls').seq === lastSeq)).toBe(true);
  });

  it('does not connect to a broker whose certificate another CA signed, nor without a client certificate', async () => {
    const wrongCa = await startGateway('gate-wrong-ca', {
      ca: join(dir, 'other-ca.pem'),
      cert: join(dir, 'good-gate-tls.pem'),
      key: join(dir, 'good-gate-tls.key'),
    });
    const noCert = await startGateway('gate-no-cert', { ca: join(dir, 'good-ca.pem') });
    expect(
      await until(
        () => wrongCa.uplink?.status().connected === true || noCert.uplink?.status().connected === true,
        3000,
      ),
    ).toBe(false);
    (wrongCa.readers as SimulatedReaderDriver).present('sim-in', { uid: sampleUid(9) });
    expect(wrongCa.journal.stats().backlog).toBeGreaterThan(0);
    expect(bridge.store.cursor('gate-wrong-ca').seq).toBe(0);
  });
});
