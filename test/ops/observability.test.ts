import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { BridgeMetrics } from '@educard/cloud-bridge';
import { GatewayMetrics } from '@educard/gateway';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/processes.js';

/**
 * The alert rules and the Grafana dashboard in deploy/observability: Prometheus's own promtool checks
 * the rules and runs their unit tests, every dashboard query parses as PromQL, and every metric either
 * names is one the bridge or a gateway serves (so a renamed metric cannot leave a silent panel).
 */

const run = promisify(execFile);
const DIR = join(REPO_ROOT, 'deploy', 'observability');
const PROMTOOL = process.env.EDUCARD_PROMTOOL ?? '/usr/bin/promtool';
const promtool = (...args: string[]) =>
  run(PROMTOOL, args, { cwd: DIR }).catch((error: { stdout: string; stderr: string; code?: unknown }) => {
    if (error.code === 'ENOENT')
      throw new Error(`no promtool at ${PROMTOOL}: as root, apt-get install -y prometheus (npm test does)`);
    throw new Error(`promtool ${args.join(' ')} failed:\n${error.stdout}${error.stderr}`);
  });

interface Panel {
  type: string;
  id: number;
  title: string;
  gridPos: { h: number; w: number; x: number; y: number };
  targets?: { expr: string; refId: string }[];
}

let dir: string;
let served: Set<string>;
let dashboard: { uid: string; panels: Panel[]; templating: { list: { name: string }[] } };

/** The families both registries hold, with a histogram's series names. */
async function servedNames(): Promise<Set<string>> {
  const bridge = new BridgeMetrics('0.0.0');
  bridge.watch({
    devices: () => [],
    rosterHeld: () => undefined,
    rosterLatest: () => undefined,
    openAlarms: () => [],
    central: () => ({ mode: 'api', journalLosses: { losses: 0, missing: 0 } }),
    notices: () => [],
    mqttConnected: () => true,
    mqttHearing: () => true,
    dataDir: dir,
  });
  const gateway = new GatewayMetrics({ firmware: '0.0.0', station: 'gate' });
  gateway.watch({
    journal: () => {
      throw new Error('not scraped here');
    },
    journalBudgetBytes: 0,
    roster: () => undefined,
    readers: () => [],
    uplink: () => undefined,
    clockSynced: () => true,
    emergencyRelease: () => false,
    lockdown: () => false,
    now: () => 0,
  });
  const names = new Set<string>();
  for (const registry of [bridge.registry, gateway.registry])
    for (const metric of registry.getMetricsAsArray()) {
      const { name, type } = metric as unknown as { name: string; type: string };
      names.add(name);
      if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(name + suffix);
    }
  return names;
}

/** The metric names a PromQL text or a rules file uses: ours and prom-client's process ones. */
const namesIn = (text: string) => new Set(text.match(/\b(?:educard|process|nodejs)_[a-z0-9_]+\b/g) ?? []);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'observability-'));
  served = await servedNames();
  dashboard = JSON.parse(await readFile(join(DIR, 'educard-dashboard.json'), 'utf8'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('deploy/observability', () => {
  it('holds alert rules promtool accepts, whose unit tests pass', async () => {
    expect((await promtool('check', 'rules', 'educard-alerts.yml')).stdout).toMatch(
      /SUCCESS: 19 rules found/,
    );
    expect((await promtool('test', 'rules', 'educard-alerts.test.yml')).stdout).toContain('SUCCESS');
  });

  it('names in its rules only metrics the bridge and the gateways serve', async () => {
    const rules = await readFile(join(DIR, 'educard-alerts.yml'), 'utf8');
    const used = namesIn(rules);
    expect(used.size).toBeGreaterThan(8);
    for (const name of used) expect(served, `${name} in educard-alerts.yml`).toContain(name);
  });

  it('holds a dashboard whose every query parses as PromQL and reads served metrics', async () => {
    const queries = dashboard.panels.flatMap((panel) => (panel.targets ?? []).map((t) => ({ panel, ...t })));
    expect(queries.length).toBeGreaterThan(20);
    expect(new Set(dashboard.panels.map((p) => p.id)).size).toBe(dashboard.panels.length);
    expect(dashboard.templating.list.map((v) => v.name)).toEqual(['datasource', 'bridge_job', 'school']);
    for (const panel of dashboard.panels) {
      expect(panel.gridPos.x + panel.gridPos.w, panel.title).toBeLessThanOrEqual(24);
      if (panel.type !== 'row') expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
    }
    for (const { panel, expr } of queries)
      for (const name of namesIn(expr)) expect(served, `${name} in "${panel.title}"`).toContain(name);

    // Each query as a recording rule, with the dashboard's variables as Grafana fills them for "All":
    // promtool then parses every one.
    const asRules = [
      'groups:',
      '  - name: dashboard',
      '    rules:',
      ...queries.map(
        ({ expr }, i) =>
          `      - record: dashboard:query_${i}\n        expr: ${JSON.stringify(expr.replaceAll(/\$\w+/g, '.*'))}`,
      ),
    ].join('\n');
    await writeFile(join(dir, 'dashboard-queries.yml'), `${asRules}\n`);
    const checked = await promtool('check', 'rules', join(dir, 'dashboard-queries.yml'));
    expect(checked.stdout).toContain(`SUCCESS: ${queries.length} rules found`);
  });
});
