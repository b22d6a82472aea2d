import { randomBytes } from 'node:crypto';

const ID_BYTES = 16;
const ID_POOL_BYTES = ID_BYTES * 256;
let idPool = randomBytes(ID_POOL_BYTES);
let idPoolOffset = 0;

/**
 * Creates an unguessable id (128 random bits, base64url) with an optional
 * prefix. Ids are cut from a pooled buffer refilled every 256 ids: one
 * `randomBytes` call per id was a measurable share of a request.
 */
export function randomId(prefix = ''): string {
  if (idPoolOffset === ID_POOL_BYTES) {
    idPool = randomBytes(ID_POOL_BYTES);
    idPoolOffset = 0;
  }
  const id = idPool.toString('base64url', idPoolOffset, idPoolOffset + ID_BYTES);
  idPoolOffset += ID_BYTES;
  return prefix + id;
}
