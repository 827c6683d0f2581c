import { chmod, chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { userMayOpen } from './access.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'access-'));
  await writeFile(
    join(dir, 'passwd'),
    'root:x:0:0::/root:/bin/sh\neducard:x:990:990::/var/lib/educard:/usr/sbin/nologin\n',
  );
  await writeFile(join(dir, 'group'), 'root:x:0:\neducard:x:990:\ngpio:x:997:pi\n');
  await writeFile(join(dir, 'gpiochip0'), '');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('whether the service user may open a GPIO chip', () => {
  it('only through a group it is in, its own node, or a node open to all', async () => {
    const chip = join(dir, 'gpiochip0');
    await chown(chip, 0, 997);
    await chmod(chip, 0o660);
    expect(userMayOpen(chip, 'educard', dir)).toEqual({
      ok: false,
      detail: `${chip} is group gpio, mode 660`,
    });
    await writeFile(join(dir, 'group'), 'root:x:0:\neducard:x:990:\ngpio:x:997:pi,educard\n');
    expect(userMayOpen(chip, 'educard', dir).ok).toBe(true);
    await chown(chip, 0, 0);
    await chmod(chip, 0o600);
    expect(userMayOpen(chip, 'educard', dir).ok).toBe(false);
    await chmod(chip, 0o666);
    expect(userMayOpen(chip, 'educard', dir).ok).toBe(true);
    expect(userMayOpen(chip, 'nobody-here', dir)).toEqual({
      ok: false,
      detail: 'there is no user nobody-here',
    });
  });
});
