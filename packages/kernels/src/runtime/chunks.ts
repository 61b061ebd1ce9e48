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
 * each at most `limitBytes` (rounded up to 16, as views bind) and starting
 * at a multiple of `alignBytes` in every tensor cut along the same rows:
 * `viewRowBytes` lists the row widths of those bound as views (default:
 * this one). One chunk when the whole tensor fits. Throws a RangeError when
 * even the smallest aligned block of rows does not fit one binding.
 */
export function rowChunks(rows: number, rowBytes: number, limitBytes: number, alignBytes: number, viewRowBytes: readonly number[] = [rowBytes]): RowChunk[] {
  if (!Number.isInteger(rows) || rows < 0 || !Number.isInteger(rowBytes) || rowBytes <= 0) {
    throw new RangeError(`rowChunks: ${rows} rows of ${rowBytes} bytes is not a tensor shape`);
  }
  const bindBytes = (n: number) => Math.ceil((n * rowBytes) / 16) * 16;
  if (bindBytes(rows) <= limitBytes) return [{ first: 0, count: rows, byteOffset: 0, bytes: rows * rowBytes }];
  const step = alignedRowStep(viewRowBytes, alignBytes);
  let per = Math.floor(limitBytes / rowBytes / step) * step;
  while (per > 0 && bindBytes(per) > limitBytes) per -= step;
  if (per < step) {
    throw new RangeError(`a block of ${step} rows of ${rowBytes} bytes (the least that starts every view at a multiple of ${alignBytes} bytes) does not fit a binding of ${limitBytes} bytes`);
  }
  const chunks: RowChunk[] = [];
  for (let first = 0; first < rows; first += per) {
    const count = Math.min(per, rows - first);
    chunks.push({ first, count, byteOffset: first * rowBytes, bytes: count * rowBytes });
  }
  return chunks;
}

/** The least number of rows after which a row of each width in `rowBytes` starts at a multiple of `alignBytes`. */
function alignedRowStep(rowBytes: readonly number[], alignBytes: number): number {
  const lcm = (a: number, b: number) => (a * b) / gcd(a, b);
  return rowBytes.reduce((step, bytes) => lcm(step, alignBytes / gcd(bytes, alignBytes)), 1);
}

/**
 * The bytes to bind for elements [first, first + count) of 4-byte words
 * when `first` need not fall on an aligned offset: the range starts at the
 * aligned word at or below `first`, and `skip` words later is `first`.
 */
export function alignedRange(first: number, count: number, alignBytes: number): { offset: number; bytes: number; skip: number } {
  const alignWords = alignBytes / 4;
  const base = Math.floor(first / alignWords) * alignWords;
  return { offset: 4 * base, bytes: 4 * (first - base + count), skip: first - base };
}
