import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { validatePathParams } from './params.js';

describe('path parameters', () => {
  it('gives a known parameter the contract rule, and refuses a route whose parameter has no schema', async () => {
    const app = Fastify();
    validatePathParams(app);
    app.get('/v1/things/:school/:version', async (request) => request.params);
    app.get(
      '/v1/other/:id',
      { schema: { params: { type: 'object', properties: { id: { type: 'integer' } } } } },
      async () => 'ok',
    );
    expect(() => app.get('/v1/loose/:name', async () => 'never')).toThrow(
      /path parameter name has no schema/,
    );
    await app.ready();
    expect((await app.inject('/v1/things/school-1/3')).json()).toEqual({ school: 'school-1', version: 3 });
    for (const bad of ['..%2Fx/1', 'a%20b/1', 'school-1/0', 'school-1/x'])
      expect((await app.inject(`/v1/things/${bad}`)).statusCode, bad).toBe(400);
    expect((await app.inject('/v1/other/7')).statusCode).toBe(200);
    await app.close();
  });
});
