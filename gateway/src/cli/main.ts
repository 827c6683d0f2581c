#!/usr/bin/env node
import { createProgram, example, runCli } from '@educard/terminal-sdk/cli';
import { FIRMWARE } from '../updates/firmware.js';
import { registerConfig } from './config.js';
import { DEFAULT_CONFIG } from './context.js';
import { registerDoctor } from './doctor.js';
import { registerEnroll } from './enroll.js';
import { registerFactoryReset } from './factory-reset.js';
import { registerInit } from './init.js';
import { registerJournal } from './journal.js';
import { registerLive } from './live.js';
import { registerLogs } from './logs.js';
import { registerRoster } from './roster.js';
import { registerTerminals } from './terminals.js';
import { registerUpdate } from './update.js';

const program = example(
  createProgram('educard', 'Provision, enroll, diagnose and service an educard gateway.')
    .option('-c, --config <file>', 'the gateway configuration', process.env.EDUCARD_CONFIG ?? DEFAULT_CONFIG)
    .version(FIRMWARE.version),
  'sudo educard init',
  'sudo educard enroll --token 3kd9… --bridge https://bridge.school.example',
  'educard doctor',
);
for (const register of [
  registerInit,
  registerEnroll,
  registerLive,
  registerDoctor,
  registerRoster,
  registerJournal,
  registerConfig,
  registerTerminals,
  registerLogs,
  registerUpdate,
  registerFactoryReset,
]) {
  register(program);
}

// Exit at once with the code: a library handle left open (a broker client, a socket) must not keep a command alive.
process.exit(await runCli(program));
