import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Whether a user may read and write a device node, from its owner, group and mode and the user's
 * groups in /etc/passwd and /etc/group: doctor runs as root, who may open anything, and must answer
 * for the service's user.
 */
export function userMayOpen(path: string, user: string, etc = '/etc'): { ok: boolean; detail: string } {
  const node = statSync(path);
  const read = (file: string) =>
    readFileSync(join(etc, file), 'utf8')
      .split('\n')
      .map((line) => line.split(':'));
  const account = read('passwd').find((fields) => fields[0] === user);
  if (!account) return { ok: false, detail: `there is no user ${user}` };
  const groups = read('group');
  const uid = Number(account[2]);
  const memberOf = new Set(
    groups
      .filter((fields) => fields[2] === account[3] || (fields[3] ?? '').split(',').includes(user))
      .map((fields) => Number(fields[2])),
  );
  const mode = node.mode & 0o777;
  const groupName = groups.find((fields) => Number(fields[2]) === node.gid)?.[0] ?? String(node.gid);
  const ok =
    (node.uid === uid && (mode & 0o600) === 0o600) ||
    (memberOf.has(node.gid) && (mode & 0o060) === 0o060) ||
    (mode & 0o006) === 0o006;
  return { ok, detail: `${path} is group ${groupName}, mode ${mode.toString(8)}` };
}
