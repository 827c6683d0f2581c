import { once } from 'node:events';
import { createServer } from 'node:net';
import { Aedes } from 'aedes';

/**
 * A bare aedes on a free TCP port of 127.0.0.1: no authentication, no limits. For tests of what a
 * client does with a broker's answers, and the uplink bench's pass-through ceiling.
 */
export interface BareBroker {
  aedes: Aedes;
  url: string;
  close(): Promise<void>;
}

export async function startBareBroker(): Promise<BareBroker> {
  const aedes = await Aedes.createBroker();
  const server = createServer((socket) => aedes.handle(socket));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    aedes,
    url: `mqtt://127.0.0.1:${(server.address() as { port: number }).port}`,
    close: async () => {
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
