import { describe, expect, it } from 'vitest';
import { maxPoolBackward, maxPoolForward } from '../src/index.js';
import { maxPoolReference } from '../src/reference/index.js';
import { poisoned, randomArray, rng, useGpu } from './helpers.js';

describe('masked max pooling', () => {
  const gpu = useGpu();

  it('forward and backward against the reference, with padding and a fully masked sequence', async () => {
    const g = gpu();
    const random = rng(1);
    for (const [B, T, D] of [[1, 1, 1], [3, 5, 7], [4, 9, 70]] as const) {
      const x = randomArray(B * T * D, random);
      // Row 1 ends in padding; the last row (when B > 2) is all padding.
      const mask = Float32Array.from({ length: B * T }, (_, i) => (Math.floor(i / T) === 1 && i % T >= T - 2 ? 0 : B > 2 && Math.floor(i / T) === B - 1 ? 0 : 1));
      const dy = randomArray(B * D, random);
      const [gx, gm, gdy] = [g.upload(x), g.upload(mask), g.upload(dy)];
      const [gy, gi, gdx] = [poisoned(g, B * D), g.upload(new Int32Array(B * D).fill(777)), poisoned(g, B * T * D)];
      maxPoolForward(g, { x: gx, mask: gm, y: gy, index: gi, B, T, D });
      maxPoolBackward(g, { dy: gdy, index: gi, dx: gdx, B, T, D });
      const want = maxPoolReference(x, mask, B, T, D);
      // A max moves values without arithmetic: exact.
      expect([...(await g.read(gy))]).toEqual([...Float32Array.from(want.y)]);
      expect([...new Int32Array(await g.readBytes(gi, 4 * B * D))]).toEqual([...want.index]);
      const dx = await g.read(gdx);
      for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) for (let d = 0; d < D; d++) {
        expect(dx[(b * T + t) * D + d]).toBe(want.index[b * D + d] === t ? dy[b * D + d] : 0);
      }
      for (const buffer of [gx, gm, gdy, gy, gi, gdx]) g.release(buffer);
    }
  });
});
