import type { BatchQos } from '@educard/terminal-sdk';
import { createProgram, example, print, runCli } from '@educard/terminal-sdk/cli';
import { InvalidArgumentError } from 'commander';
import { runDistrict } from './run.js';

const whole = (min: number, max: number) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new InvalidArgumentError(`a whole number from ${min} to ${max}`);
  return n;
};
const share = (value: string) => {
  const n = Number(value);
  if (!(n >= 0 && n <= 1)) throw new InvalidArgumentError('a share from 0 to 1');
  return n;
};
const rate = (value: string) => {
  const n = Number(value);
  if (!(n > 0 && n <= 100)) throw new InvalidArgumentError('taps a second, above 0 and at most 100');
  return n;
};

const program = createProgram(
  'fleet-sim',
  'A simulated district on this machine: a NATS cluster (nats-server), one bridge, and N light gateways in one process (real enrollment, signed hash-chained batches, births and wills, acks), tapping for a while, some losing their link and coming back with a backlog. Exits 0 when every event was acknowledged, 1 when some were not.',
)
  .option('--devices <n>', 'simulated gateways', whole(1, 20_000), 200)
  .option('--rate <r>', 'taps a second per gateway', rate, 1)
  .option('--seconds <s>', 'how long the gateways tap', whole(3, 3600), 30)
  .option('--nodes <n>', 'NATS nodes in the cluster', whole(1, 5), 3)
  .option(
    '--outage <share>',
    'share of gateways whose link drops for the middle third of the run',
    share,
    0.1,
  )
  .option(
    '--qos <q>',
    'QoS the gateways publish batches with (uplink.batch.qos), 0 or 1; by default the one the bridge names at enrollment (0 on NATS)',
    (value: string) => {
      if (value !== '0' && value !== '1') throw new InvalidArgumentError('0 or 1');
      return Number(value) as BatchQos;
    },
  )
  .option('--json', 'print the figures as JSON')
  .action(
    async (options: {
      devices: number;
      rate: number;
      seconds: number;
      nodes: number;
      outage: number;
      qos?: BatchQos;
      json?: boolean;
    }) => {
      const result = await runDistrict({
        ...options,
        progress: (line) => process.stderr.write(`[fleet-sim] ${line}\n`),
      });
      print(options.json, result, () =>
        [
          `devices ${result.connected}/${result.devices} connected, enrolled in ${result.enrollS.toFixed(1)} s, connected in ${result.connectS.toFixed(1)} s`,
          `events ${result.acked}/${result.tapped} acknowledged (${result.eventsPerS.toFixed(0)}/s), backlog ${result.backlog}`,
          `tap to ack: p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms`,
          `births answered ${result.syncAnswers}, connects ${result.connects}, resends ${result.resends}, refusals ${result.refusals}, batches at QoS ${result.batchQos.join(' and ')}`,
        ].join('\n'),
      );
      if (!result.drained) process.exitCode = 1;
    },
  );
example(
  program,
  'npm run fleet-sim -- --devices 1000 --seconds 60 --outage 0.2',
  'npm run fleet-sim -- --devices 50 --json',
);

process.exitCode = await runCli(program);
