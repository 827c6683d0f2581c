import type { StationConfig } from '../config/index.js';
import {
  createGateStation,
  createLabStation,
  createLibraryStation,
  createVenueStation,
  type Station,
  type StationBuild,
  type StationContext,
  type StationFactory,
  type TerminalStation,
} from '../stations/index.js';
import { libraryBackendFor } from './library-backend.js';

/** Every station type the gateway runs: a new type is its folder under stations/ and one line here. */
const STATIONS: { [K in StationConfig['type']]: StationFactory<K> } = {
  gate: createGateStation,
  library: createLibraryStation(libraryBackendFor),
  lab: createLabStation,
  venue: createVenueStation,
};

/** The one station `config.station` names, made but not started. */
export function createStation(context: StationContext): Promise<StationBuild> {
  const settings = context.config.station;
  const factory = STATIONS[settings.type] as StationFactory<typeof settings.type>;
  return factory(settings, context);
}

/** Whether a station answers terminals (a library desk, a computer room). */
export function hasTerminals(station: Station): station is Station & TerminalStation {
  return station.handle !== undefined && (station.kind === 'library' || station.kind === 'lab');
}
