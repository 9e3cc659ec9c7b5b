/**
 * A cap on the requests of one route in flight in this process (BULK_CONCURRENCY for
 * `POST /bulk`): a bulk body may be 8 MiB and parsing it costs about twelve times that, so
 * without a cap a few dozen concurrent bulk requests could exhaust the process's memory.
 *
 * The check runs in the route's `onRequest` hook, after authentication and before the body is
 * read: a request over the cap is answered 429 TOO_MANY_REQUESTS with `Retry-After: 1` and its
 * body is never parsed. A request that took a slot gives it back once both its response is
 * closed (sent, or its connection lost: the response's 'close' event comes in every case) and
 * its handler is done (the handler of an aborted request keeps running, and keeps its memory,
 * until it returns: `hold` runs it in try/finally, so its end is known however it ends). The
 * slot is released once, whatever order those come in.
 */
import type { FastifyReply, FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import { rateLimited } from '../metrics.ts';
import { errorReply } from './errors.ts';

/** Seconds a refused client waits before it tries again: bulk requests take about that long. */
export const IN_FLIGHT_RETRY_AFTER_SECONDS = 1;

/** A taken slot: released once the response is closed and the handler is not running. */
class Slot {
  #closed = false;
  #handling = false;
  #released = false;

  constructor(private readonly release: () => void) {}

  handlerStarted(): void {
    this.#handling = true;
  }

  handlerDone(): void {
    this.#handling = false;
    this.#settle();
  }

  responseClosed(): void {
    this.#closed = true;
    this.#settle();
  }

  #settle(): void {
    if (this.#released || !this.#closed || this.#handling) return;
    this.#released = true;
    this.release();
  }
}

export class InFlightLimit {
  #inFlight = 0;
  readonly #slots = new WeakMap<FastifyRequest, Slot>();

  /** `name` labels its refusals (metric `coffer_rate_limited_total`, the message); `max` is the cap. */
  constructor(
    readonly name: string,
    readonly max: number,
  ) {
    if (!Number.isInteger(max) || max < 1) throw new Error(`in-flight limit must be a positive integer, got ${max}`);
  }

  /** The route's onRequest hook: takes a slot, or answers 429 before the body is read. */
  readonly onRequest: onRequestAsyncHookHandler = async (request, reply) => {
    const socket = request.raw.socket;
    // The connection may be gone already (closed while an earlier hook, authentication,
    // awaited): its 'close' events have fired and will not come again, and its body will
    // never arrive. Such a request takes no slot.
    if (reply.raw.closed || reply.raw.destroyed || socket.destroyed) return;
    if (this.#inFlight >= this.max) return refuse(reply, this.name, this.max);
    this.#inFlight += 1;
    const closed = () => slot.responseClosed();
    const slot = new Slot(() => {
      this.#inFlight -= 1;
      reply.raw.off('close', closed);
      socket.off('close', closed);
    });
    this.#slots.set(request, slot);
    // The response's 'close' comes when it was sent or its connection lost — but not for a
    // pipelined request whose response never got the socket; the socket's own 'close' does.
    reply.raw.once('close', closed);
    socket.once('close', closed);
  };

  /** Runs the route's handler `work`, holding the request's slot until it returns or throws. */
  async hold<Result>(request: FastifyRequest, work: () => Promise<Result>): Promise<Result> {
    const slot = this.#slots.get(request);
    slot?.handlerStarted();
    try {
      return await work();
    } finally {
      slot?.handlerDone();
    }
  }
}

function refuse(reply: FastifyReply, name: string, max: number): FastifyReply {
  rateLimited.inc({ limit: name });
  const answer = errorReply('TOO_MANY_REQUESTS', `too many ${name} requests in flight in this process (at most ${max} at once); retry in ${IN_FLIGHT_RETRY_AFTER_SECONDS} s`);
  return reply.code(429).header('retry-after', String(IN_FLIGHT_RETRY_AFTER_SECONDS)).type('application/json').send(answer.body);
}
