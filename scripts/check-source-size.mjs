#!/usr/bin/env node
// Fails when a source file of the gateway, the bridge or the SDK is longer than the project allows, so a
// file that grows several concerns is split along its seams before it lands (issue 18). Tests, fixtures
// and conformance suites are left out by the same rule the packages' tsconfig uses to keep them out of
// dist. Plain JavaScript with no dependencies, so `npm run lint` needs no build first.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const MAX_LINES = 600;
const ROOTS = ['gateway/src', 'cloud-bridge/src', 'terminal-sdk/src'];
const SOURCE = /\.tsx?$/;
const NOT_SOURCE = [/\.test\.tsx?$/, /(^|\/)conformance\.tsx?$/, /(^|\/)fixtures?\.tsx?$/, /\.d\.ts$/];

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function* sources(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* sources(path);
    else if (SOURCE.test(entry.name) && !NOT_SOURCE.some((rule) => rule.test(path))) yield path;
  }
}

const lineCount = (text) => text.split('\n').length - (text.endsWith('\n') ? 1 : 0);

const tooLong = ROOTS.flatMap((dir) => [...sources(join(root, dir))])
  .map((path) => ({ file: relative(root, path), lines: lineCount(readFileSync(path, 'utf8')) }))
  .filter(({ lines }) => lines > MAX_LINES)
  .sort((a, b) => b.lines - a.lines);

if (tooLong.length) {
  process.stderr.write(
    `${tooLong.length} source file(s) over ${MAX_LINES} lines: split each along its seams\n${tooLong
      .map(({ file, lines }) => `  ${file}: ${lines}`)
      .join('\n')}\n`,
  );
  process.exit(1);
}
process.stdout.write(`source files: none over ${MAX_LINES} lines\n`);
