/** `/metrics`: the process's Prometheus metrics (see src/metrics.ts). */
import type { FastifyInstance } from 'fastify';
import { metricsRegistry } from '../../metrics.ts';
import { route } from '../operations.ts';

export function metricsRoutes(app: FastifyInstance): void {
  route(app, 'getMetrics', async (_request, reply) => reply.type(metricsRegistry.contentType).send(await metricsRegistry.metrics()));
}
