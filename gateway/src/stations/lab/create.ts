import type { StationFactory } from '../types.js';
import { LabStation } from './station.js';

/** A computer room: seats, sessions and bookings, from the roster's cards. */
export const createLabStation: StationFactory<'lab'> = async (settings, context) => {
  const { roster } = context;
  return {
    station: new LabStation({
      config: settings,
      roster: () => roster.view,
      people: (personId) => roster.view?.byPersonId(personId),
      clock: context.clock,
      journal: context.journal,
      policy: context.config.policy,
      logger: context.logger.child({ station: settings.id }),
    }),
  };
};
