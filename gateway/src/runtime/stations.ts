import type { StationConfig } from '../config/index.js';
import type {
  Station,
  StationBuild,
  StationContext,
  StationFactory,
  TerminalStation,
} from '../stations/index.js';

/**
 * Every station type the gateway runs: a new type is its folder under stations/ and one line here.
 * Each is imported when configured, so a gate's process never loads a library desk's SIP2 client or
 * a computer room's plan: code loaded and never run still costs resident memory on a 512 MB board.
 */
const STATIONS: { [K in StationConfig['type']]: () => Promise<StationFactory<K>> } = {
  gate: async () => (await import('../stations/gate/index.js')).createGateStation,
  library: async () => {
    const [{ createLibraryStation }, { libraryBackendFor }] = await Promise.all([
      import('../stations/library/index.js'),
      import('../sip2/index.js'),
    ]);
    return createLibraryStation(libraryBackendFor);
  },
  lab: async () => (await import('../stations/lab/index.js')).createLabStation,
  venue: async () => (await import('../stations/venue/index.js')).createVenueStation,
};

/** The factory of a station type, its modules loaded (and only its). */
export function loadStationFactory<K extends StationConfig['type']>(type: K): Promise<StationFactory<K>> {
  return STATIONS[type]() as Promise<StationFactory<K>>;
}

/** The one station `config.station` names, made but not started. */
export async function createStation(context: StationContext): Promise<StationBuild> {
  const settings = context.config.station;
  const factory = await loadStationFactory(settings.type);
  return factory(settings, context);
}

/** Whether a station answers terminals (a library desk, a computer room). */
export function hasTerminals(station: Station): station is Station & TerminalStation {
  return station.handle !== undefined && (station.kind === 'library' || station.kind === 'lab');
}
