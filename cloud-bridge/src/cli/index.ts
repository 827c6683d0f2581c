import { createProgram, example } from '@educard/terminal-sdk/cli';
import type { Command } from 'commander';
import { BRIDGE_VERSION } from '../runtime/version.js';
import { registerAccounts } from './accounts.js';
import { registerBackup } from './backup.js';
import { registerCards } from './cards.js';
import { registerDevices } from './devices.js';
import { registerImport } from './import.js';
import { registerInit } from './init.js';
import { registerKeys } from './keys.js';
import { registerLibrary } from './library.js';
import { registerLockdown } from './lockdown.js';
import { registerNotices } from './notices.js';
import { registerPeople } from './people.js';
import { registerReleases } from './releases.js';
import { registerRollouts } from './rollouts.js';
import { registerServe } from './serve.js';
import { registerTokens } from './tokens.js';

/** `educard-bridge`: the technician's commands, one file per group (docs/bridge-cli.md). */
export function bridgeProgram(): Command {
  const program = createProgram(
    'educard-bridge',
    'Sets up and runs the educard cloud bridge, and manages its keys, devices, rosters, cards and people.\nExit codes: 0 ok, 1 failed, 2 bad usage.',
  ).version(BRIDGE_VERSION);
  for (const register of [
    registerInit,
    registerServe,
    registerKeys,
    registerTokens,
    registerDevices,
    registerImport,
    registerLibrary,
    registerCards,
    registerLockdown,
    registerNotices,
    registerPeople,
    registerAccounts,
    registerReleases,
    registerRollouts,
    registerBackup,
  ])
    register(program);
  return example(
    program,
    'sudo educard-bridge init --root-key-out /media/usb/educard-root-key.json',
    'educard-bridge serve',
    'educard-bridge tokens create --school school-1 --count 10',
  );
}
