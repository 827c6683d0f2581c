// The parts of johnny-five 2.1 this package uses; the library ships no types of its own.
declare module 'johnny-five' {
  import { EventEmitter } from 'node:events';

  export interface BoardOptions {
    io?: unknown;
    port?: string;
    repl?: boolean;
    debug?: boolean;
    sigint?: boolean;
    timeout?: number;
  }
  export class Board extends EventEmitter {
    constructor(options: BoardOptions);
    isReady: boolean;
    io: { close?: () => void } & Record<string, unknown>;
  }
  export class Relay {
    constructor(options: { pin: number | string; type?: 'NO' | 'NC'; board: Board });
    close(): void;
    open(): void;
    readonly isClosed: boolean;
  }
  export class Led {
    constructor(options: { pin: number | string; board: Board });
    on(): void;
    off(): void;
    readonly isOn: boolean;
  }
  export class Button extends EventEmitter {
    constructor(options: {
      pin: number | string;
      board: Board;
      invert?: boolean;
      isPullup?: boolean;
      holdtime?: number;
    });
    readonly isDown: boolean;
  }
}
