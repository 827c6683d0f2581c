export { sameBearer, sameSecret } from './compare.js';
export {
  type Ed25519,
  type Ed25519KeyPair,
  ed25519,
  generateKeyPair,
  nativeEd25519,
  tweetnaclEd25519,
} from './ed25519.js';
export { fromBase64Url, keyIdOf, sha256Hex, toBase64Url } from './encoding.js';
