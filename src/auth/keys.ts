/**
 * The token signing keys: ES256 (ECDSA P-256, which every JOSE library and Node 20's
 * WebCrypto support without a flag), each with a `kid`, kept in the database so that every
 * process signs and verifies with the same set. The newest live key signs; every key in the
 * table verifies. `coffer keys rotate` adds a key: tokens signed by the old one keep working
 * until they expire, and the old key is deleted once no live token can carry it.
 *
 * A process keeps the keys in memory and reads the table again, at most once per
 * RELOAD_INTERVAL_MS, when it issues a token or meets a kid it has not seen: a key added by
 * another process or the CLI signs that process's tokens within a second, and verifies at
 * its first token.
 */
import { randomBytes } from 'node:crypto';
import { exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import type { Instant } from '../domain/time.ts';
import type { Queryable } from '../storage/database.ts';
import { addSigningKey, listSigningKeys, pruneRetiredKeys, type SigningKeyRecord, type StoredJwk } from '../storage/signing-keys.ts';

export const ALGORITHM = 'ES256';

/** At most one read of the key table per this long when tokens name unknown kids (a flood of them costs one query a second). */
const RELOAD_INTERVAL_MS = 1_000;

export interface SigningKey {
  readonly kid: string;
  readonly privateKey: CryptoKey;
}

/** A public key as /.well-known/jwks.json publishes it. */
export type PublicJwk = JWK & { kid: string; alg: string; use: 'sig' };

function toStored(jwk: JWK): StoredJwk {
  return Object.fromEntries(Object.entries(jwk).filter((entry): entry is [string, string] => typeof entry[1] === 'string'));
}

/** A new key pair, as its row. */
export async function newSigningKey(now: Instant): Promise<Omit<SigningKeyRecord, 'retiredAt'>> {
  const { privateKey, publicKey } = await generateKeyPair(ALGORITHM, { extractable: true });
  const kid = randomBytes(12).toString('base64url');
  return {
    kid,
    algorithm: ALGORITHM,
    privateJwk: toStored(await exportJWK(privateKey)),
    publicJwk: toStored(await exportJWK(publicKey)),
    createdAt: now,
  };
}

/**
 * How long a retired key is kept: the longest token lifetime AUTH_TOKEN_TTL allows (24 h), not
 * the configured one, since the CLI that rotates may not run with the servers' settings.
 */
export const RETIRED_KEY_KEPT_MICROS = 86_400_000_000n;

/** Adds a new signing key (the old ones retire: they verify, no longer sign) and deletes keys retired more than a day ago. */
export async function rotateSigningKey(q: Queryable, now: Instant): Promise<{ kid: string; pruned: string[] }> {
  const key = await newSigningKey(now);
  await addSigningKey(q, key);
  // A retired key signed its last token at retirement; a day later no live token carries it.
  const pruned = await pruneRetiredKeys(q, now - RETIRED_KEY_KEPT_MICROS);
  return { kid: key.kid, pruned };
}

export class KeyRing {
  private signing: SigningKey | null = null;
  private verifying = new Map<string, CryptoKey>();
  private published: PublicJwk[] = [];
  private loadedAtMs = -Infinity;
  private loading: Promise<void> | null = null;

  constructor(
    private readonly db: Queryable,
    private readonly clock: () => Instant,
    private readonly nowMs: () => number = Date.now,
  ) {}

  /** The key new tokens are signed with; creates the first one when the table is empty. */
  async signingKey(): Promise<SigningKey> {
    // Read again when older than a second: a key rotated by the CLI or another process signs from then on.
    await this.reload(this.signing === null);
    if (this.signing === null) {
      await addSigningKey(this.db, await newSigningKey(this.clock()));
      await this.reload(true);
    }
    if (this.signing === null) throw new Error('no signing key after creating one');
    return this.signing;
  }

  /** The public key of `kid`, or null when no key of the table has it (after reading the table again, at most once a second). */
  async verificationKey(kid: string): Promise<CryptoKey | null> {
    const known = this.verifying.get(kid);
    if (known !== undefined) return known;
    await this.reload(false);
    return this.verifying.get(kid) ?? null;
  }

  /** The public keys, for /.well-known/jwks.json (read again when older than a second). */
  async publicKeys(): Promise<PublicJwk[]> {
    await this.reload(false);
    return this.published;
  }

  /** Forgets what was read, so that the next use reads the table (after this process rotated a key). */
  invalidate(): void {
    this.signing = null;
    this.loadedAtMs = -Infinity;
  }

  private async reload(force: boolean): Promise<void> {
    if (!force && this.nowMs() - this.loadedAtMs < RELOAD_INTERVAL_MS) return;
    this.loading ??= this.load().finally(() => {
      this.loading = null;
    });
    await this.loading;
  }

  private async load(): Promise<void> {
    const records = await listSigningKeys(this.db);
    const verifying = new Map<string, CryptoKey>();
    const published: PublicJwk[] = [];
    let signing: SigningKey | null = null;
    for (const record of records) {
      verifying.set(record.kid, (await importJWK(record.publicJwk, record.algorithm)) as CryptoKey);
      published.push({ ...record.publicJwk, kid: record.kid, alg: record.algorithm, use: 'sig' });
      if (signing === null && record.retiredAt === null) {
        signing = { kid: record.kid, privateKey: (await importJWK(record.privateJwk, record.algorithm)) as CryptoKey };
      }
    }
    this.verifying = verifying;
    this.published = published;
    this.signing = signing;
    this.loadedAtMs = this.nowMs();
  }
}
