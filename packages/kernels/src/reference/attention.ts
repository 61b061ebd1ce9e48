/**
 * float64 reference of attention.wgsl: multi-head self-attention with a
 * key-padding mask and dropout on the probabilities, forward and backward,
 * in the kernel's layouts (q, k, v, out and their gradients [B, T, D] with
 * head h in columns h·d … h·d+d−1; row statistics [B, H, T]). It builds the
 * whole probability matrix of each head, written independently of the
 * kernel's online softmax and recomputation.
 */
import { dropoutKeepMask } from '../ops/dropout.js';

/** Shape, mask and dropout of one attention call. */
export interface AttentionReferenceArgs {
  B: number;
  T: number;
  /** Model width H·d. */
  D: number;
  heads: number;
  /** [B, T] of 1 (token) and 0 (padding); keys where it is 0 get no attention. */
  mask?: ArrayLike<number>;
  /** Dropout rate on the probabilities (default 0), with dropout.wgsl's seed and stream. */
  p?: number;
  seed?: number;
  stream?: number;
}

interface Probabilities {
  /** P[(b·H + h)·T + i][j], B·H·T·T. */
  P: Float64Array;
  /** The keep factors z = keep/(1 − p) of the same elements (all 1 without dropout). */
  z: Float64Array;
  /** log Σ_j exp(s_ij) per row (0 for a fully masked row). */
  lse: Float64Array;
}

function probabilities(q: ArrayLike<number>, k: ArrayLike<number>, a: AttentionReferenceArgs): Probabilities {
  const { B, T, D, heads: H } = a;
  const d = D / H;
  const scale = 1 / Math.sqrt(d);
  const n = B * H * T * T;
  const P = new Float64Array(n);
  const lse = new Float64Array(B * H * T);
  const p = a.p ?? 0;
  const keep = p > 0 ? dropoutKeepMask(n, p, a.seed ?? 0, a.stream ?? 0) : undefined;
  const factor = 1 / Math.fround(1 - Math.fround(p));
  const z = Float64Array.from({ length: n }, (_, e) => (keep ? (keep[e] ? factor : 0) : 1));
  const s = new Float64Array(T);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < T; i++) {
        const row = (b * H + h) * T + i;
        let m = -Infinity;
        for (let j = 0; j < T; j++) {
          if (a.mask && a.mask[b * T + j] === 0) continue;
          let dot = 0;
          for (let c = 0; c < d; c++) dot += q[(b * T + i) * D + h * d + c]! * k[(b * T + j) * D + h * d + c]!;
          s[j] = scale * dot;
          m = Math.max(m, s[j]!);
        }
        if (m === -Infinity) continue;
        let sum = 0;
        for (let j = 0; j < T; j++) if (!a.mask || a.mask[b * T + j] !== 0) sum += Math.exp(s[j]! - m);
        for (let j = 0; j < T; j++) if (!a.mask || a.mask[b * T + j] !== 0) P[row * T + j] = Math.exp(s[j]! - m) / sum;
        lse[row] = m + Math.log(sum);
      }
    }
  }
  return { P, z, lse };
}

/** out [B, T, D] and the row log-sum-exp [B, H, T] (0 for fully masked rows). */
export function attentionForwardReference(q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, a: AttentionReferenceArgs): { out: Float64Array; lse: Float64Array } {
  const { B, T, D, heads: H } = a;
  const d = D / H;
  const { P, z, lse } = probabilities(q, k, a);
  const out = new Float64Array(B * T * D);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < T; i++) {
        const row = (b * H + h) * T + i;
        for (let j = 0; j < T; j++) {
          const w = P[row * T + j]! * z[row * T + j]!;
          if (w === 0) continue;
          for (let c = 0; c < d; c++) out[(b * T + i) * D + h * d + c]! += w * v[(b * T + j) * D + h * d + c]!;
        }
      }
    }
  }
  return { out, lse };
}

/**
 * dq, dk, dv [B, T, D] from dOut [B, T, D], by the chain rule through the
 * explicit probabilities: dP̃ = dO·vᵀ, dP = dP̃ ⊙ z, dS = P ⊙ (dP − Σ_j P dP),
 * dq = scale·dS·k, dk = scale·dSᵀ·q, dv = (P ⊙ z)ᵀ·dO.
 */
export function attentionBackwardReference(
  q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, dOut: ArrayLike<number>, a: AttentionReferenceArgs,
): { dq: Float64Array; dk: Float64Array; dv: Float64Array } {
  const { B, T, D, heads: H } = a;
  const d = D / H;
  const scale = 1 / Math.sqrt(d);
  const { P, z } = probabilities(q, k, a);
  const [dq, dk, dv] = [new Float64Array(B * T * D), new Float64Array(B * T * D), new Float64Array(B * T * D)];
  const at = (t: number, b: number, h: number, c: number) => (b * T + t) * D + h * d + c;
  const dP = new Float64Array(T);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < T; i++) {
        const row = (b * H + h) * T + i;
        let sum = 0;
        for (let j = 0; j < T; j++) {
          let dot = 0;
          for (let c = 0; c < d; c++) dot += dOut[at(i, b, h, c)]! * v[at(j, b, h, c)]!;
          dP[j] = dot * z[row * T + j]!;
          sum += P[row * T + j]! * dP[j]!;
        }
        for (let j = 0; j < T; j++) {
          const pij = P[row * T + j]!;
          const ds = pij * (dP[j]! - sum);
          const pz = pij * z[row * T + j]!;
          for (let c = 0; c < d; c++) {
            dq[at(i, b, h, c)]! += scale * ds * k[at(j, b, h, c)]!;
            dk[at(j, b, h, c)]! += scale * ds * q[at(i, b, h, c)]!;
            dv[at(j, b, h, c)]! += pz * dOut[at(i, b, h, c)]!;
          }
        }
      }
    }
  }
  return { dq, dk, dv };
}
