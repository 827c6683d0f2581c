import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  countValidSignatures,
  describeIssues,
  EnrollmentProof,
  EnrollmentResponse,
  enrollmentTokenHash,
  KeyRole,
} from '@educard/terminal-sdk';
import { CliError, example, print, usageError } from '@educard/terminal-sdk/cli';
import type { Command } from 'commander';
import { loadOrCreateIdentity } from '../identity/index.js';
import { RosterRejected, type VerifiedKeySet, verifyKeySet } from '../roster/index.js';
import type { UplinkConfig } from '../uplink/index.js';
import { readRawConfig, writeRawConfig } from './config.js';
import { configPath, readConfig, SERVICE, wantsJson } from './context.js';

interface EnrollOptions {
  token: string;
  bridge?: string;
  broker?: string;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
}

/**
 * Checks that the enrollment answer comes from a bridge the device's pinned root keys vouch for:
 * the key sets chain from the anchor, the newest names the roster key that signed the proof, and the
 * proof names this device, its key, this token and the broker credentials given.
 */
export function verifyEnrollment(
  answer: EnrollmentResponse,
  anchor: KeyRole,
  expected: { device: string; publicKey: string; token: string },
): EnrollmentProof {
  let trusted: VerifiedKeySet | undefined;
  for (const envelope of answer.keySets) {
    trusted = verifyKeySet(
      Buffer.from(JSON.stringify(envelope)),
      trusted?.keySet.root ?? anchor,
      trusted?.keySet.version ?? 0,
    );
  }
  if (!trusted) throw new RosterRejected('malformed', 'the answer holds no key set');
  const valid = countValidSignatures(answer.proof, trusted.rosterKeys);
  if (valid < trusted.keySet.roster.threshold) {
    throw new RosterRejected(
      'bad-signature',
      'the enrollment proof is not signed by the roster key the root keys name',
    );
  }
  const proof = EnrollmentProof.parse(answer.proof.signed);
  const mismatch = [
    proof.device !== expected.device && 'device',
    proof.publicKey !== expected.publicKey && 'device key',
    proof.tokenSha256 !== enrollmentTokenHash(expected.token) && 'token',
    proof.school !== answer.school && 'school',
    proof.username !== answer.mqtt.username && 'broker user',
    proof.mqttUrl !== answer.mqtt.url && 'broker URL',
    JSON.stringify(proof.mqttFailover ?? []) !== JSON.stringify(answer.mqtt.failover ?? []) && 'broker nodes',
    proof.mqttBatchQos !== answer.mqtt.batchQos && 'batch QoS',
  ].filter(Boolean);
  if (mismatch.length > 0)
    throw new RosterRejected(
      'malformed',
      `the proof does not match this enrollment (${mismatch.join(', ')})`,
    );
  return proof;
}

async function post(url: string, body: unknown): Promise<Response> {
  try {
    return await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(15_000),
    });
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
    throw new CliError(
      `the bridge at ${url} cannot be reached (${cause})`,
      1,
      'Check the URL, the network and that the bridge runs (educard-bridge serve); then run enroll again with the same token.',
    );
  }
}

export function registerEnroll(program: Command): void {
  example(
    program
      .command('enroll')
      .description(
        'register this device with the bridge using a one-time token; checks the bridge against the pinned root keys',
      )
      .requiredOption('--token <token>', 'the one-time enrollment token (educard-bridge tokens create)')
      .option('--bridge <url>', 'the cloud bridge, http(s)://; by default the one in the configuration')
      .option('--broker <url>', 'connect to this MQTT broker rather than the one the bridge names')
      .option('--tls-ca <file>', 'CA certificate of the broker')
      .option('--tls-cert <file>', "this device's client certificate")
      .option('--tls-key <file>', "the client certificate's key")
      .option('--json', 'print the enrollment as JSON'),
    'sudo educard enroll --token 3kd9Xq… --bridge https://bridge.school.example',
  ).action(async (options: EnrollOptions, command: Command) => {
    const path = configPath(command);
    const config = await readConfig(path);
    const bridge = (options.bridge ?? config.uplink?.bridgeHttp)?.replace(/\/$/, '');
    if (!bridge) throw usageError('which bridge? give --bridge URL');
    if (!/^https?:\/\//.test(bridge))
      throw usageError(`--bridge ${bridge} is not an http:// or https:// URL`);
    for (const file of [options.tlsCa, options.tlsCert, options.tlsKey]) {
      if (file)
        await readFile(file).catch((error: NodeJS.ErrnoException) => {
          throw usageError(`${file} cannot be read (${error.code})`);
        });
    }
    const anchorText = await readFile(join(config.dataDir, 'roster', 'anchor.json'), 'utf8').catch(() => {
      throw new CliError(
        'this device trusts no root keys yet',
        1,
        `Run educard init first (it pins the school's root keys).`,
      );
    });
    const anchor = KeyRole.parse(JSON.parse(anchorText));
    const identity = await loadOrCreateIdentity(resolve(config.dataDir, config.identity.keyFile)).catch(
      (error: Error) => {
        throw new CliError(
          `the device key cannot be read: ${error.message}`,
          1,
          'Run as root; if the key is damaged, educard init --force makes a new one.',
        );
      },
    );

    const response = await post(`${bridge}/v1/enroll`, {
      token: options.token,
      deviceId: config.device.id,
      publicKey: identity.publicKey,
    });
    const text = await response.text();
    const refusal = (() => {
      try {
        return String((JSON.parse(text) as { message?: unknown }).message ?? '');
      } catch {
        return '';
      }
    })();
    if (response.status === 403) {
      throw new CliError(
        `the bridge refused the token: ${refusal || 'it is unknown, already used or expired'}`,
        1,
        `Ask for a new one: educard-bridge tokens create --school ${config.device.school} --device ${config.device.id}`,
      );
    }
    if (response.status === 409) {
      throw new CliError(
        `the bridge refused: ${refusal || `device ${config.device.id} is enrolled and not revoked`}`,
        1,
        `If this device was set up again, the bridge operator revokes the old enrollment first (educard-bridge devices revoke ${config.device.id}); then run enroll again with the same token.`,
      );
    }
    if (!response.ok) {
      throw new CliError(
        `the bridge answered ${response.status}: ${text.slice(0, 300)}`,
        response.status === 400 ? 2 : 1,
      );
    }
    const parsed = EnrollmentResponse.safeParse(JSON.parse(text));
    if (!parsed.success)
      throw new CliError(`the bridge's answer is not an enrollment: ${describeIssues(parsed.error)}`);
    const answer = parsed.data;
    try {
      verifyEnrollment(answer, anchor, {
        device: config.device.id,
        publicKey: identity.publicKey,
        token: options.token,
      });
    } catch (error) {
      throw new CliError(
        `the bridge at ${bridge} could not prove it is your school's: ${(error as Error).message}`,
        1,
        'Nothing was written. Check the bridge URL; if it is right, the root keys pinned at init are not the ones this bridge uses: ask the bridge operator.',
      );
    }
    if (answer.school !== config.device.school) {
      throw new CliError(
        `the token is for school ${answer.school}, this device is set up for ${config.device.school}`,
        1,
        "Use a token of this device's school, or set the device up again with educard init --force.",
      );
    }

    // As written in the file: sections left out take their defaults when the gateway reads it.
    const raw = (await readRawConfig(path)) as {
      uplink?: Partial<Omit<UplinkConfig, 'batch'>> & { batch?: Partial<UplinkConfig['batch']> };
    };
    const tls = {
      ...raw.uplink?.tls,
      ...(options.tlsCa ? { ca: resolve(options.tlsCa) } : {}),
      ...(options.tlsCert ? { cert: resolve(options.tlsCert) } : {}),
      ...(options.tlsKey ? { key: resolve(options.tlsKey) } : {}),
    };
    const url = options.broker ?? raw.uplink?.url ?? answer.mqtt.url;
    // The bridge's other nodes and batch QoS go with its URL: a broker chosen here keeps what the config has.
    const bridgeBroker = url === answer.mqtt.url;
    const failover = bridgeBroker ? answer.mqtt.failover : undefined;
    const batchQos = bridgeBroker ? answer.mqtt.batchQos : undefined;
    raw.uplink = {
      ...raw.uplink,
      url,
      ...(failover?.length ? { failover } : {}),
      ...(batchQos !== undefined ? { batch: { ...raw.uplink?.batch, qos: batchQos } } : {}),
      bridgeHttp: bridge,
      username: answer.mqtt.username,
      password: answer.mqtt.password,
      ...(Object.keys(tls).length > 0 ? { tls } : {}),
    };
    await writeRawConfig(path, raw);
    const summary = {
      device: config.device.id,
      school: answer.school,
      broker: raw.uplink.url,
      ...(raw.uplink.failover?.length ? { failover: raw.uplink.failover } : {}),
      ...(raw.uplink.batch?.qos !== undefined ? { batchQos: raw.uplink.batch.qos } : {}),
      bridge,
      keySetVersion: answer.keySets.length,
    };
    print(wantsJson(command), summary, () =>
      [
        `enrolled ${config.device.id} in school ${answer.school}; the bridge proved its identity with key set ${answer.keySets.length}`,
        `broker ${raw.uplink?.url}; credentials written to ${path}`,
        '',
        `next: sudo systemctl restart ${SERVICE}, then educard status`,
      ].join('\n'),
    );
  });
}
