import type { ItemPresented, LocalGatewayState, StationTap } from '@educard/terminal-sdk';
import { TerminalClient } from '@educard/terminal-sdk/terminal-client';
import { useEffect, useState } from 'preact/hooks';

export interface TerminalSetup {
  terminal: string;
  password: string;
  station: string;
}

const STORE = 'educard.terminal';

/**
 * The terminal's credentials: given once in the address fragment (never sent to a server, and taken
 * out of the address bar at once), then kept in this browser's local storage.
 */
export function terminalSetup(): TerminalSetup | undefined {
  const given = new URLSearchParams(location.hash.slice(1));
  const terminal = given.get('terminal');
  const password = given.get('password');
  const station = given.get('station');
  if (terminal && password && station) {
    localStorage.setItem(STORE, JSON.stringify({ terminal, password, station }));
    history.replaceState(null, '', location.pathname + location.search);
  }
  const stored = localStorage.getItem(STORE);
  return stored ? (JSON.parse(stored) as TerminalSetup) : undefined;
}

export type LinkState = 'connecting' | 'connected' | 'lost';

export interface Link {
  client: TerminalClient | undefined;
  link: LinkState;
  gateway: LocalGatewayState | undefined;
}

/**
 * Connects to the gateway that served the page, over its broker's WebSocket on the same origin. The
 * listeners are the first render's: read changing state through refs.
 */
export function useLink(
  setup: TerminalSetup | undefined,
  onTap: (tap: StationTap) => void,
  onItem?: (item: ItemPresented) => void,
): Link {
  const [client, setClient] = useState<TerminalClient>();
  const [link, setLink] = useState<LinkState>('connecting');
  const [gateway, setGateway] = useState<LocalGatewayState>();
  useEffect(() => {
    if (!setup) return;
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/mqtt`;
    let closed = false;
    let made: TerminalClient | undefined;
    void TerminalClient.connect({ url, ...setup }).then(
      (connected) => {
        if (closed) {
          void connected.close();
          return;
        }
        made = connected;
        connected.onConnection((up) => setLink(up ? 'connected' : 'lost'));
        connected.onState(setGateway);
        connected.onTap(onTap);
        if (onItem) connected.onItem(onItem);
        setLink(connected.connected ? 'connected' : 'lost');
        setClient(connected);
      },
      () => setLink('lost'),
    );
    return () => {
      closed = true;
      void made?.close();
    };
  }, [setup?.terminal, setup?.station]);
  return { client, link, gateway };
}

/** A transaction id: the station answers a repeat of it with the first outcome, never a second loan. */
export function newTxn(): string {
  return crypto.randomUUID().replaceAll('-', '');
}
