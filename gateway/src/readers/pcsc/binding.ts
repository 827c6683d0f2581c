/**
 * The part of a PC/SC binding the driver uses, after the `smartcard` package's API: the real one
 * (by default), or a scripted one for tests (MockPcscBinding, in the gateway's testing export).
 */
export interface PcscCard {
  /** The ATR the reader gave (for a contactless card, the one it built: PC/SC part 3). */
  readonly atr?: Buffer | null;
  transmit(command: Buffer, options?: { autoGetResponse?: boolean }): Promise<Buffer>;
  disconnect(disposition?: number): void;
}

export interface PcscDevices {
  on(event: 'reader-attached' | 'reader-detached', listener: (reader: { name: string }) => void): unknown;
  on(
    event: 'card-inserted',
    listener: (event: { reader: { name: string; atr?: Buffer | null }; card: PcscCard }) => void,
  ): unknown;
  on(event: 'card-removed', listener: (event: { reader: { name: string } }) => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
  removeAllListeners(): unknown;
  start(): void;
  stop(): void;
  listReaders(): { name: string }[];
}

export interface PcscBinding {
  Devices: new () => PcscDevices;
}

/** The `smartcard` package, loaded when the driver starts: a gateway without PC/SC readers never needs it. */
export async function loadSmartcard(): Promise<PcscBinding> {
  const name = 'smartcard';
  return (await import(name)) as PcscBinding;
}
