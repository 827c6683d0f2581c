#!/usr/bin/env node
import { runCli } from '@educard/terminal-sdk/cli';
import { bridgeProgram } from './index.js';

runCli(bridgeProgram()).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`educard-bridge failed: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
