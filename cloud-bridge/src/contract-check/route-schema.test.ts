import { Identifier, IsoTime } from '@educard/terminal-sdk';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type RouteTypes, routeSchema } from './route-schema.js';

const Route = {
  params: z.object({ id: Identifier }),
  querystring: z.object({ limit: z.number().int().min(1).max(1000).default(100), from: IsoTime.optional() }),
  body: z.object({ name: z.string().max(8), ttlSeconds: z.number().int().min(1).default(60) }),
};

async function app() {
  const made = Fastify();
  made.post<RouteTypes<typeof Route>>('/things/:id', routeSchema(Route), async (request) => ({
    id: request.params.id,
    limit: request.query.limit,
    ttlSeconds: request.body.ttlSeconds,
  }));
  await made.ready();
  return made;
}

describe('route schemas from the contract', () => {
  it('hands the handler what the zod schemas describe: numbers read, defaults filled', async () => {
    const answer = await (await app()).inject({
      method: 'POST',
      url: '/things/gate-1?limit=5&from=2026-01-05T08:00:00%2B08:00',
      payload: { name: 'door' },
    });
    expect(answer.statusCode).toBe(200);
    expect(answer.json()).toEqual({ id: 'gate-1', limit: 5, ttlSeconds: 60 });
  });

  it('refuses before the handler runs what the contract refuses', async () => {
    const made = await app();
    const post = (url: string, payload: unknown) =>
      made.inject({ method: 'POST', url, payload: payload as object });
    expect((await post('/things/..%2Fetc', { name: 'door' })).statusCode).toBe(400);
    expect((await post('/things/gate-1?limit=5000', { name: 'door' })).statusCode).toBe(400);
    expect((await post('/things/gate-1?from=yesterday', { name: 'door' })).statusCode).toBe(400);
    expect((await post('/things/gate-1', { name: 'a much too long name' })).statusCode).toBe(400);
    expect((await post('/things/gate-1', { name: 'door', ttlSeconds: 0 })).statusCode).toBe(400);
  });

  it('takes a body the schema lets a caller leave out as the empty object it stands for', async () => {
    const Optional = { body: z.object({ add: z.array(Identifier).default([]) }).prefault({}) };
    const made = Fastify();
    made.post<RouteTypes<typeof Optional>>('/tags', routeSchema(Optional), async (request) => request.body);
    expect((await made.inject({ method: 'POST', url: '/tags' })).json()).toEqual({ add: [] });
    expect((await made.inject({ method: 'POST', url: '/tags', payload: { add: ['a b'] } })).statusCode).toBe(
      400,
    );
    const required = await app();
    expect((await required.inject({ method: 'POST', url: '/things/gate-1' })).statusCode).toBe(400);
  });
});
