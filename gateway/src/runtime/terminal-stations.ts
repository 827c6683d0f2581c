import type { LocalGatewayState } from '@educard/terminal-sdk';
import type { GatewayConfig } from '../config/index.js';
import type { Logger } from '../log/index.js';
import type { PageServer } from '../page-server/index.js';
import type { Station, TerminalStation } from '../stations/index.js';
import type { TerminalHub } from '../terminals/index.js';

/** How often the pages hear the gateway's state even when nothing said it changed: the offline indicator's lag. */
const STATE_EVERY_MS = 2000;

/**
 * A library desk's or computer room's side facing its terminals: the broker terminals reach the
 * station through, and the page server that carries the broker's WebSocket. The station's taps and
 * items reach the terminals from its event bus. Started after the station, stopped before it. Both
 * are imported here, when a station has terminals: a gate's process never loads the broker or the pages.
 */
export class TerminalSide {
  private constructor(
    private readonly hub: TerminalHub | undefined,
    readonly pages: PageServer | undefined,
    private readonly unsubscribe: () => void,
  ) {}

  static async start(options: {
    config: GatewayConfig;
    station: Station & TerminalStation;
    state: () => LocalGatewayState;
    logger: Logger;
  }): Promise<TerminalSide> {
    const { config, station, logger } = options;
    const [{ TerminalHub }, { PageServer }] = await Promise.all([
      import('../terminals/index.js'),
      import('../page-server/index.js'),
    ]);
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
    const offTap = station.events.on('tap', ({ terminal }) => terminal && hub?.publishTap(terminal));
    const offItem = station.events.on('item', (item) => hub?.publishItem(item));
    const side = new TerminalSide(hub, pages, () => {
      offTap();
      offItem();
    });
    try {
      await hub?.start();
      await pages?.start();
    } catch (error) {
      await side.stop();
      throw error;
    }
    return side;
  }

  /** The terminal broker's ports, when it runs. */
  get ports(): { tcp?: number | undefined; ws?: number | undefined } {
    return this.hub?.ports ?? {};
  }

  async stop(): Promise<void> {
    this.unsubscribe();
    await this.pages?.stop();
    await this.hub?.stop();
  }
}
