import { createConnection, createServer, type Socket } from 'node:net';
import mqttPacket from 'mqtt-packet';

/**
 * A relay in front of a real broker that drops the SUBSCRIBEs of the connections `stalls` picks (by
 * the client id of their CONNECT and how many times that id has connected, from 1), as a broker node
 * back from a crash that takes a connection and holds its SUBSCRIBE without a SUBACK: everything else
 * passes both ways unchanged. With `refuse` it answers them instead, every filter refused (0x80), as
 * a NATS node does while its cluster is short of a node. `freeze` makes it a black hole (a link gone
 * dead with its connections left open): nothing passes either way from then on.
 */
export async function stallingRelay(
  port: number,
  stalls: (clientId: string, nth: number) => boolean,
  refuse = false,
) {
  let connections = 0;
  let swallowed = 0;
  let frozen = false;
  const connectsOf = new Map<string, number>();
  const sockets = new Set<Socket>();
  const relay = createServer((client) => {
    connections += 1;
    let stalling = false;
    const broker = createConnection({ host: '127.0.0.1', port });
    for (const socket of [client, broker]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    }
    const parser = mqttPacket.parser();
    parser.on('packet', (packet) => {
      if (packet.cmd === 'connect') {
        const nth = (connectsOf.get(packet.clientId) ?? 0) + 1;
        connectsOf.set(packet.clientId, nth);
        stalling = stalls(packet.clientId, nth);
      }
      if (stalling && packet.cmd === 'subscribe') {
        swallowed += 1;
        if (refuse)
          client.write(
            mqttPacket.generate({
              cmd: 'suback',
              messageId: packet.messageId,
              granted: packet.subscriptions.map(() => 0x80),
            }),
          );
      } else broker.write(mqttPacket.generate(packet));
    });
    client.on('data', (chunk) => {
      if (!frozen) parser.parse(chunk);
    });
    broker.on('data', (chunk) => {
      if (!frozen) client.write(chunk);
    });
    const close = () => {
      client.destroy();
      broker.destroy();
    };
    client.on('close', close).on('error', close);
    broker.on('close', close).on('error', close);
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  const address = relay.address() as { port: number };
  return {
    url: `mqtt://127.0.0.1:${address.port}`,
    connections: () => connections,
    swallowed: () => swallowed,
    /** From now on nothing passes, and no connection is closed. */
    freeze() {
      frozen = true;
    },
    /** Cuts every connection through the relay, as a node that dies does. */
    cut() {
      for (const socket of sockets) socket.destroy();
    },
    close() {
      this.cut();
      relay.close();
    },
  };
}
