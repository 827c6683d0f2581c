import { createPrivateKey, createPublicKey, type KeyObject, randomBytes, sign, verify } from 'node:crypto';
import nacl from 'tweetnacl';

/** A raw Ed25519 key pair: a 32-byte seed (the private key) and the 32-byte public key. */
export interface Ed25519KeyPair {
  seed: Uint8Array;
  publicKey: Uint8Array;
}

/**
 * One API, two implementations. tweetnacl is the reference the design names; node:crypto is ~70 times
 * faster at verifying and is what the tap path and the bridge's ingest use. Both must pass the same
 * test vectors (RFC 8032), so a signature made by one always verifies in the other.
 */
export interface Ed25519 {
  readonly name: 'native' | 'tweetnacl';
  keyPairFromSeed(seed: Uint8Array): Ed25519KeyPair;
  sign(message: Uint8Array, seed: Uint8Array): Uint8Array;
  verify(message: Uint8Array, signature: Uint8Array, publicKey: Uint8Array): boolean;
  /**
   * verify, off the caller's thread where the implementation can: node:crypto runs it in libuv's
   * thread pool, so a bridge's event loop is not held ~100 µs for each batch it takes.
   */
  verifyInPool(message: Uint8Array, signature: Uint8Array, publicKey: Uint8Array): Promise<boolean>;
}

const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

function checkLength(what: string, bytes: Uint8Array, length: number): void {
  if (bytes.length !== length) throw new RangeError(`${what} must be ${length} bytes, got ${bytes.length}`);
}

/**
 * Parsing a key into a KeyObject costs more than a verify. A bridge verifies every enrolled device's
 * key over and over, so the cache holds the most recently used keys: a district of 5,000 devices
 * under a cache of 4,096 that was cleared when full parsed a key for nearly every batch (an eighth of
 * the bridge's busy time in the scale bench). Bounded, because the keys come from the store.
 */
const publicKeyCache = new Map<string, KeyObject>();
const PUBLIC_KEY_CACHE_LIMIT = 32_768;

function nativePublicKey(publicKey: Uint8Array): KeyObject {
  const id = Buffer.from(publicKey).toString('base64');
  let key = publicKeyCache.get(id);
  if (key) {
    // A Map iterates in insertion order: inserting again makes it the most recently used.
    publicKeyCache.delete(id);
  } else {
    key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' });
    if (publicKeyCache.size >= PUBLIC_KEY_CACHE_LIMIT) {
      const oldest = publicKeyCache.keys().next().value;
      if (oldest !== undefined) publicKeyCache.delete(oldest);
    }
  }
  publicKeyCache.set(id, key);
  return key;
}

/**
 * A device or bridge signs with the same seed each time, and parsing it into a KeyObject costs more
 * than the signature (a profile of the scale bench's gateways put a tenth of their busy time there).
 * Kept by the seed's array, with a copy to see that it was not changed since, and gone with it.
 */
const privateKeyCache = new WeakMap<Uint8Array, { seed: Buffer; key: KeyObject }>();

function nativePrivateKey(seed: Uint8Array): KeyObject {
  checkLength('seed', seed, 32);
  const cached = privateKeyCache.get(seed);
  if (cached?.seed.equals(seed)) return cached.key;
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  privateKeyCache.set(seed, { seed: Buffer.from(seed), key });
  return key;
}

export const nativeEd25519: Ed25519 = {
  name: 'native',
  keyPairFromSeed(seed) {
    const der = createPublicKey(nativePrivateKey(seed)).export({ format: 'der', type: 'spki' });
    return { seed: Uint8Array.from(seed), publicKey: new Uint8Array(der.subarray(SPKI_PREFIX.length)) };
  },
  sign(message, seed) {
    return new Uint8Array(sign(null, message, nativePrivateKey(seed)));
  },
  verify(message, signature, publicKey) {
    if (signature.length !== 64 || publicKey.length !== 32) return false;
    try {
      return verify(null, message, nativePublicKey(publicKey), signature);
    } catch {
      return false;
    }
  },
  verifyInPool(message, signature, publicKey) {
    if (signature.length !== 64 || publicKey.length !== 32) return Promise.resolve(false);
    let key: KeyObject;
    try {
      key = nativePublicKey(publicKey);
    } catch {
      return Promise.resolve(false);
    }
    return new Promise((resolve) => {
      verify(null, message, key, signature, (error, valid) => resolve(!error && valid));
    });
  },
};

export const tweetnaclEd25519: Ed25519 = {
  name: 'tweetnacl',
  keyPairFromSeed(seed) {
    checkLength('seed', seed, 32);
    const pair = nacl.sign.keyPair.fromSeed(seed);
    return { seed: Uint8Array.from(seed), publicKey: pair.publicKey };
  },
  sign(message, seed) {
    return nacl.sign.detached(message, nacl.sign.keyPair.fromSeed(seed).secretKey);
  },
  verify(message, signature, publicKey) {
    if (signature.length !== 64 || publicKey.length !== 32) return false;
    return nacl.sign.detached.verify(message, signature, publicKey);
  },
  async verifyInPool(message, signature, publicKey) {
    return this.verify(message, signature, publicKey);
  },
};

/** The implementation everything uses unless a caller asks for the reference one. */
export const ed25519: Ed25519 = nativeEd25519;

export function generateKeyPair(impl: Ed25519 = ed25519): Ed25519KeyPair {
  return impl.keyPairFromSeed(randomBytes(32));
}
