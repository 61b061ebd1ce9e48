/**
 * Tensors larger than one storage binding.
 *
 * WebGPU caps what one binding may cover (`maxStorageBufferBindingSize`:
 * 128 MiB on lavapipe and by default) well below what one buffer may hold
 * (`maxBufferSize`: 4 GiB on lavapipe). A tensor past the binding limit
 * lives in one buffer all the same, and a launcher that binds it runs one
 * dispatch per *chunk*: a block of whole rows, bound as a view at the
 * chunk's byte offset. Chunk boundaries fall on rows and on the device's
 * `minStorageBufferOffsetAlignment`, so every chunk can be bound on its own.
 *
 * Layout of a chunked tensor, for kernels and their headers: exactly the
 * layout of the same tensor unchunked (row-major, rows of `rowBytes` bytes,
 * no padding); chunk c covers rows [first, first + count), bytes
 * [first · rowBytes, (first + count) · rowBytes).
 */

/** One block of rows of a chunked tensor. */
export interface RowChunk {
  /** First row of the chunk. */
  first: number;
  /** Rows in the chunk (≥ 1). */
  count: number;
  /** Byte offset of the chunk in the tensor: first · rowBytes. */
  byteOffset: number;
  /** Bytes of the chunk: count · rowBytes. */
  bytes: number;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/**
 * Splits `rows` rows of `rowBytes` bytes into as few blocks as possible,
 * each at most `limitBytes` (rounded up to 16, as views bind) and starting at
 * a byte offset that is a multiple of `alignBytes`. One chunk when the whole
 * tensor fits. Throws a RangeError when even the smallest aligned block of
 * rows does not fit one binding.
 */
export function rowChunks(rows: number, rowBytes: number, limitBytes: number, alignBytes: number): RowChunk[] {
  if (!Number.isInteger(rows) || rows < 0 || !Number.isInteger(rowBytes) || rowBytes <= 0) {
    throw new RangeError(`rowChunks: ${rows} rows of ${rowBytes} bytes is not a tensor shape`);
  }
  const bindBytes = (n: number) => Math.ceil((n * rowBytes) / 16) * 16;
  if (bindBytes(rows) <= limitBytes) return [{ first: 0, count: rows, byteOffset: 0, bytes: rows * rowBytes }];
  // Rows per chunk must be a multiple of `step` for every chunk to start aligned.
  const step = alignBytes / gcd(rowBytes, alignBytes);
  let per = Math.floor(limitBytes / rowBytes / step) * step;
  while (per > 0 && bindBytes(per) > limitBytes) per -= step;
  if (per < step || per <= 0) {
    throw new RangeError(`a row of ${rowBytes} bytes cannot be split into bindings of at most ${limitBytes} bytes starting at multiples of ${alignBytes} bytes`);
  }
  const chunks: RowChunk[] = [];
  for (let first = 0; first < rows; first += per) {
    const count = Math.min(per, rows - first);
    chunks.push({ first, count, byteOffset: first * rowBytes, bytes: count * rowBytes });
  }
  return chunks;
}
