import { once } from 'node:events';
import { createServer } from 'node:net';
import { Aedes } from 'aedes';

/** A bare aedes on a free TCP port of 127.0.0.1, for tests of what the bridge does with a broker's answers. */
export interface TestBroker {
  aedes: Aedes;
  url: string;
  close(): Promise<void>;
}

export async function startTestBroker(): Promise<TestBroker> {
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
