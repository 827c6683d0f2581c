import { defineConfig } from 'vitest/config';

/** Files that need the host's one pcscd (and vpcd's fixed ports): run alone, after the rest. */
const PCSC_FILES = ['test/readers/**/*.test.ts', 'test/demo/**/*.test.ts'];

/**
 * Files run a second time with every store on PostgreSQL (one server for the run, a schema per store:
 * cloud-bridge/src/store/test-store.ts): the tests of each module that keeps tables, as its tables
 * gain their PostgreSQL steps.
 */
const POSTGRES_FILES = [
  'test/store/test-store.test.ts',
  'cloud-bridge/src/accounts/accounts.test.ts',
  'cloud-bridge/src/accounts/audit-purge.test.ts',
  'cloud-bridge/src/privacy/pseudonyms.test.ts',
  'cloud-bridge/src/grants/grants.test.ts',
  'cloud-bridge/src/directory/directory.test.ts',
  'cloud-bridge/src/privacy/leavers.test.ts',
  'cloud-bridge/src/transfers/log.test.ts',
  // whole bridges: transfers, accounts and audit, grants, releases and rollouts, privacy (the fleet test's
  // ten minutes of gateway updates run on SQLite only: rollout-rules covers the rollouts' storage)
  'test/central/transfer.test.ts',
  'test/cli/bridge-transfer.test.ts',
  'test/pages/bridge-transfers.test.ts',
  'test/ops/accounts.test.ts',
  'test/ops/record-retention.test.ts',
  'test/library/overdue.test.ts',
  'test/library/overdue-reminders.test.ts',
  'cloud-bridge/src/library/forget.test.ts',
  'test/cli/bridge-accounts.test.ts',
  'test/pages/bridge-audit.test.ts',
  'test/pages/bridge-roles.test.ts',
  'test/security/roster-access.test.ts',
  'test/updates/rollout-rules.test.ts',
  'test/privacy/bridge-privacy.test.ts',
  // central, attendance, ops, notices, retention, venues, ingest
  'cloud-bridge/src/central/outbox.test.ts',
  'cloud-bridge/src/central/files.test.ts',
  'cloud-bridge/src/attendance/attendance.test.ts',
  'cloud-bridge/src/ops/ops.test.ts',
  'cloud-bridge/src/ops/expiry.test.ts',
  'cloud-bridge/src/notices/notices.test.ts',
  'cloud-bridge/src/notices/absence.test.ts',
  'cloud-bridge/src/notices/overdue.test.ts',
  'cloud-bridge/src/notices/housekeeping.test.ts',
  'cloud-bridge/src/lockdown/lockdown.test.ts',
  'cloud-bridge/src/retention/retention.test.ts',
  'cloud-bridge/src/venues/visits.test.ts',
  'cloud-bridge/src/venues/instances.test.ts',
  'cloud-bridge/src/venues/plans.test.ts',
  'cloud-bridge/src/ingest/group-commit.test.ts',
  'cloud-bridge/src/leases/duties.test.ts',
  // whole bridges: attendance and notices, central, ops, venues
  'test/attendance/attendance-api.test.ts',
  'test/attendance/notices.test.ts',
  'test/central/feed.test.ts',
  'test/central/files.test.ts',
  'test/central/push.test.ts',
  'test/ops/expiry.test.ts',
  'test/ops/malformed-data.test.ts',
  'test/ops/observability.test.ts',
  'test/ops/propagation.test.ts',
  'test/ops/reader-alarm.test.ts',
  'test/ops/lockdown.test.ts',
  'test/venues/growth-record.test.ts',
  'test/venues/hotlist.test.ts',
  'test/pages/bridge-venues.test.ts',
];

export default defineConfig({
  resolve: { conditions: ['source'] },
  ssr: { resolve: { conditions: ['source'] } },
  test: {
    // A limit against a hang, not a measure of speed: a test of a few child processes (each a Node
    // start of a second or more on a loaded 2-core runner) must not fail for the runner's load.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // A page or a peer that answers within a second on a quiet machine takes several on a loaded CI
    // runner; a poll is a wait for a state, not a timing assertion.
    expect: { poll: { timeout: 15_000 } },
    // Vitest's default is one worker fewer than the cores: one on the 2-core CI machine. Most files
    // wait far more than they compute (a broker outage of minutes, child processes, sockets), so
    // three run side by side.
    maxWorkers: 3,
    // Each worker runs its files one after another in one process and keeps the modules it loaded:
    // isolating every file re-evaluated the workspace's module graph each time (570 s of the suite's
    // 1,195 s run by three workers; 60 s without, and the run 1,007 s). So a test file closes what it
    // opens (servers, child processes, pools, timers), restores what it mocks or fakes
    // (`vi.restoreAllMocks`, `vi.useRealTimers`) and changes no module's state for the next file;
    // a file that leaves a TCP server listening or a child process running fails (left-running.ts).
    isolate: false,
    setupFiles: ['test/support/left-running.ts'],
    projects: [
      {
        extends: true,
        test: {
          name: 'parallel',
          include: ['{terminal-sdk,gateway,cloud-bridge,scripts}/src/**/*.test.ts', 'test/**/*.test.ts'],
          exclude: PCSC_FILES,
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: 'postgres',
          include: POSTGRES_FILES,
          env: { EDUCARD_TEST_STORE: 'postgres' },
          globalSetup: ['test/support/postgres-run.ts'],
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: 'pcsc',
          include: PCSC_FILES,
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
