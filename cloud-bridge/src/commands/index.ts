import { randomBytes } from 'node:crypto';
import { type Command, type CommandToSign, SPEC_VERSION, signCommand, topics } from '@educard/terminal-sdk';
import type { MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { RosterKeyring } from '../roster/index.js';

export interface CommandSenderDeps {
  client: MqttClient;
  /** The keyring whose command keys the devices' key sets name. */
  keys: RosterKeyring;
  logger: Logger;
  now?: () => Date;
}

/** What a command names besides its target: its name and arguments, as the contract has them. */
export type CommandOrder = Pick<Command, 'name'> & { args?: Record<string, unknown> };

/** How long a command stays good unless the sender says otherwise. */
export const DEFAULT_COMMAND_TTL_MS = 60_000;

/**
 * Sends commands to devices, each signed with the command key of the bridge's key set for the one
 * device it names, with a fresh correlation id and an expiry: a device runs it only so, whatever
 * broker carried it. A bridge whose key sets name no command key yet sends them unsigned, which
 * current devices refuse, and says so once: rotating its keys gives it one.
 */
export class CommandSender {
  private warned = false;

  constructor(private readonly deps: CommandSenderDeps) {}

  async send(
    school: string,
    device: string,
    order: CommandOrder,
    ttlMs = DEFAULT_COMMAND_TTL_MS,
  ): Promise<{ id: string; expiresAt: string }> {
    const message = this.sign(school, device, order, ttlMs);
    await this.deps.client.publishAsync(topics.commands(school, device), JSON.stringify(message), {
      qos: 1,
    });
    return { id: message.id, expiresAt: message.expiresAt };
  }

  /** The command as `send` publishes it, for another message to carry (a sync answer). */
  sign(school: string, device: string, order: CommandOrder, ttlMs = DEFAULT_COMMAND_TTL_MS): Command {
    const { keys, logger } = this.deps;
    const now = (this.deps.now ?? (() => new Date()))();
    const command = {
      v: SPEC_VERSION,
      id: `c-${randomBytes(9).toString('base64url')}`,
      device,
      school,
      issuedAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + ttlMs).toISOString(),
      ...order,
    } as CommandToSign;
    const signers = keys.commandSigners;
    if (!signers.length && !this.warned) {
      this.warned = true;
      logger.warn(
        'the key set names no command key, so commands go unsigned and current gateways refuse them: rotate the keys (educard-bridge keys rotate)',
      );
    }
    return signers.length ? signCommand(command, signers) : (command as Command);
  }
}
