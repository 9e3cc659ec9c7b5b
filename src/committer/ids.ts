/**
 * The ids a command creates (a wallet's, a hold's). With an Idempotency-Key they derive from
 * it (UUIDv5), so every run of a keyed request names the same entity — and a command that
 * sees `idsDerived` checks whether that entity exists already, for when the key's record was
 * purged. Without a key they are random (UUIDv7). A command that asks for one kind twice
 * gets one id.
 */
import { randomFillSync } from 'node:crypto';
import { v5 as uuidv5, v7 as uuidv7 } from 'uuid';
import type { Instant } from '../domain/time.ts';
import type { ApplyContext } from './command.ts';

/** Namespace of Coffer's key-derived ids (UUIDv5). Changing it changes every derived id. */
const ID_NAMESPACE = '0b6f2d6e-4e2a-4f3a-9f0a-2b9c1d8e7a31';

/**
 * The random part of new UUIDv7s, drawn from a pool refilled 256 ids at a time: one draw per
 * id (the uuid package's own) was a system call per event and per request id, 3 % of the
 * server's samples in a CPU profile of hot-wallet debits. Each id's 16 bytes are used once
 * and copied into it at once.
 */
const POOL_IDS = 256;
const pool = Buffer.alloc(16 * POOL_IDS);
let poolNext = POOL_IDS;

/** A new random UUIDv7 (time-ordered by millisecond; ids of one millisecond in no set order). */
export function newUuidV7(): string {
  if (poolNext === POOL_IDS) {
    randomFillSync(pool);
    poolNext = 0;
  }
  const start = 16 * poolNext++;
  return uuidv7({ random: pool.subarray(start, start + 16) });
}

export function applyContext(key: string | undefined, now: Instant, createdBy: string | null = null): ApplyContext {
  const ids = new Map<string, string>();
  return {
    now,
    createdBy,
    idsDerived: key !== undefined,
    newId: (kind) => {
      let id = ids.get(kind);
      if (id === undefined) {
        id = key !== undefined ? uuidv5(`${kind}:${key}`, ID_NAMESPACE) : newUuidV7();
        ids.set(kind, id);
      }
      return id;
    },
  };
}
