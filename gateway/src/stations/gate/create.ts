import { PassbackState } from '../../policy/index.js';
import type { StationFactory } from '../types.js';
import { GateStation } from './station.js';

/** A school gate: the roster's cards, the policy, anti-passback, the gate's relay. */
export const createGateStation: StationFactory<'gate'> = async (settings, context) => ({
  station: new GateStation({
    config: settings,
    policy: context.config.policy,
    roster: () => context.roster.view,
    clock: context.clock,
    actions: context.io,
    journal: context.journal,
    passback: new PassbackState(),
    lockdown: () => context.lockedDown(),
    logger: context.logger,
  }),
});
