// monitor.wgsl — the training step's watch, kept on the GPU so that a step reads nothing back:
// each step's loss goes into a ring of slots that the host reads every few steps, and the
// first step whose loss (or global gradient norm) is not finite is recorded for that read.
//
// MATH (one launch per training step s, writing slot k of the ring)
//   losses[k] ← loss                                        (the bits, unchanged)
//   bad       = ¬finite(loss) ∨ (checkNorm ∧ ¬finite(norm))
//   if bad ∧ firstBad = NONE:
//     firstBad ← s,  what ← 1·¬finite(loss) + 2·¬finite(norm),  badLoss ← loss,  badNorm ← norm
//   finite(x) ⇔ the 8 exponent bits of x are not all ones (x is neither ±∞ nor NaN).
//   The test is made on the bits, with integer operations only: WGSL lets an implementation
//   assume that floats are finite, so `x != x` or `isinf`-style float comparisons may be
//   folded away by a shader compiler. Nothing here does float arithmetic.
//   firstBad keeps the first bad step because launches run in queue order (one per step) and
//   a set flag is never overwritten: no atomics, the same steps give the same state.
//
// MEMORY LAYOUT
//   loss: the loss tensor's buffer, word 0 is the scalar loss (bound as u32 words: its bits).
//   norm: word normIndex is the gradient norm (the optimizer's clip buffer [factor, ‖g‖],
//     normIndex 1); ignored unless checkNorm ≠ 0 (bind any buffer, e.g. the loss).
//   state: u32 words
//     0  firstBad: the step of the first non-finite value, 0xffffffff while there is none
//     1  what: bit 0 the loss was not finite at firstBad, bit 1 the gradient norm was not
//     2  the loss at firstBad (f32 bits)
//     3  the gradient norm at firstBad (f32 bits; 0 when not checked)
//     4 … 4 + slots − 1: the losses of the ring's slots (f32 bits)
//
// THREAD → DATA MAPPING
//   One workgroup of one thread per launch: a handful of words per training step.
//
// WHAT BOUNDS IT
//   Launch overhead only (one dispatch per step); the host reads 4 + (steps since the last
//   read) words every few steps instead of draining the queue at every step.

struct RecordParams {
  step: u32,
  slot: u32,
  slots: u32,
  checkNorm: u32,
  normIndex: u32,
}

const NONE: u32 = 0xffffffffu;
const HEADER: u32 = 4u;
const EXPONENT: u32 = 0x7f800000u;

@group(0) @binding(0) var<storage, read> loss: array<u32>;
@group(0) @binding(1) var<storage, read> norm: array<u32>;
@group(0) @binding(2) var<storage, read_write> state: array<u32>;
@group(0) @binding(3) var<uniform> params: RecordParams;

fn finiteBits(x: u32) -> bool {
  return (x & EXPONENT) != EXPONENT;
}

@compute @workgroup_size(1)
fn record() {
  if (params.slot >= params.slots) { return; }
  let l = loss[0];
  var g = 0u;
  var normBad = false;
  if (params.checkNorm != 0u) {
    g = norm[params.normIndex];
    normBad = !finiteBits(g);
  }
  let lossBad = !finiteBits(l);
  state[HEADER + params.slot] = l;
  if ((lossBad || normBad) && state[0] == NONE) {
    state[0] = params.step;
    state[1] = select(0u, 1u, lossBad) | select(0u, 2u, normBad);
    state[2] = l;
    state[3] = g;
  }
}
