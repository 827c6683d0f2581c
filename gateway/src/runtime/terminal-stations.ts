import { type LocalGatewayState, SPEC_VERSION, type StationTap } from '@educard/terminal-sdk';
import type { GatewayConfig } from '../config/index.js';
import type { Logger } from '../log/index.js';
import { PageServer } from '../page-server/index.js';
import type { TerminalStation } from '../stations/index.js';
import { TerminalHub } from '../terminals/index.js';

const RECENT_TAPS = 20;
/** How often the pages hear the gateway's state even when nothing said it changed: the offline indicator's lag. */
const STATE_EVERY_MS = 2000;

/**
 * A library desk's or computer room's side facing its terminals: the station, the broker terminals
 * reach it through, and the page server that carries the broker's WebSocket. Started after the
 * journal and roster, stopped before them.
 */
export class TerminalSide {
  private readonly recent: StationTap[] = [];

  private constructor(
    readonly station: TerminalStation,
    readonly hub: TerminalHub | undefined,
    readonly pages: PageServer | undefined,
  ) {}

  static async start(options: {
    config: GatewayConfig;
    station: TerminalStation;
    state: () => LocalGatewayState;
    logger: Logger;
  }): Promise<TerminalSide> {
    const { config, station, logger } = options;
    await station.start?.();
    const hub = config.terminals
      ? new TerminalHub({
          config: config.terminals,
          logger,
          stations: [station],
          state: options.state,
          stateIntervalMs: STATE_EVERY_MS,
        })
      : undefined;
    const pages = config.pages ? new PageServer({ ...config.pages, logger }) : undefined;
    if (hub && pages) hub.attachWebSocket(pages.server);
    await hub?.start();
    await pages?.start();
    return new TerminalSide(station, hub, pages);
  }

  /** A card at the station's readers: the station decides, the terminals hear of it. */
  tap(...args: Parameters<TerminalStation['tap']>): StationTap | undefined {
    const tap = this.station.tap(...args);
    if (!tap) return undefined;
    this.recent.push(tap);
    if (this.recent.length > RECENT_TAPS) this.recent.shift();
    this.hub?.publishTap(tap);
    return tap;
  }

  /**
   * A tagged item (a book's tag) at a library desk's reader: the desk's terminals take it as a scanned
   * barcode. Other stations have no use for one: false, and nothing is published.
   */
  item(reader: string, itemId: string, at: string): boolean {
    if (this.station.kind !== 'library') return false;
    this.hub?.publishItem({ v: SPEC_VERSION, station: this.station.id, reader, itemId, at });
    return true;
  }

  recentTaps(): StationTap[] {
    return [...this.recent];
  }

  publishState(): void {
    this.hub?.publishState();
  }

  async stop(): Promise<void> {
    await this.pages?.stop();
    await this.hub?.stop();
    await this.station.stop?.();
  }
}
