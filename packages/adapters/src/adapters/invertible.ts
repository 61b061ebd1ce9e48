/**
 * The NICE invertible adapter of MAD-X language adapters ("pfeiffer+inv"),
 * a coupling block on the embeddings' output (docs/formats.md §4; adapter-hub/adapters at
 * 88f18eb: src/adapters/methods/invertible.py, NICECouplingBlock in methods/modeling.py):
 *
 *   x = [x1 | x2]  (halves of D)
 *   y1 = x1 + F(x2)
 *   y2 = x2 + G(y1)
 *   out = [y1 | y2]        (inverse: x2 = y2 − G(y1), x1 = y1 − F(x2))
 *
 * The masked-LM head applies the inverse before its vocabulary projection,
 * so a language adapter's coupling is learned as an invertible change of
 * representation. F, G: Linear(D/2 → D/(2·r)), ReLU, Linear(→ D/2), named
 * {prefix}.invertible_adapters.{name}.{F|G}.{0|2}.{weight|bias}. Only the
 * first adapter of an active Stack applies it (AdapterHub's rule).
 */
import { add, concat, linear, scale, sliceColumns, type Graph, type Tensor } from '@thaw/autograd';
import { EPILOGUE_ACTIVATIONS, type NonLinearity } from '../model/activations.js';
import { normal } from '../model/random.js';

export class NiceCoupling {
  readonly params = new Map<string, Tensor>();
  private readonly half: number;

  constructor(graph: Graph, readonly prefix: string, hidden: number, reductionFactor: number, random: () => number, readonly nonLinearity: NonLinearity = 'relu') {
    if (hidden % 2) throw new Error(`${prefix}: an invertible adapter needs an even hidden size, got ${hidden}`);
    this.half = hidden / 2;
    const inner = Math.max(1, Math.floor(this.half / reductionFactor));
    for (const f of ['F', 'G']) {
      const base = `${prefix}.${f}`;
      const add = (name: string, data: Float32Array, shape: number[]) => this.params.set(name, graph.parameter(data, shape, name));
      add(`${base}.0.weight`, normal(inner * this.half, 0.02, random), [inner, this.half]);
      add(`${base}.0.bias`, new Float32Array(inner), [inner]);
      add(`${base}.2.weight`, normal(this.half * inner, 0.02, random), [this.half, inner]);
      add(`${base}.2.bias`, new Float32Array(this.half), [this.half]);
    }
  }

  /** The coupling applied to embeddings [B, T, D]. */
  forward(h: Tensor): Tensor {
    const x1 = sliceColumns(h, 0, this.half);
    const x2 = sliceColumns(h, this.half, this.half);
    const y1 = add(x1, this.sub('F', x2));
    return concat([y1, add(x2, this.sub('G', y1))]);
  }

  /** The inverse: x2 = y2 − G(y1), x1 = y1 − F(x2) (on [..., D]). */
  inverse(y: Tensor): Tensor {
    const y1 = sliceColumns(y, 0, this.half);
    const y2 = sliceColumns(y, this.half, this.half);
    const x2 = add(y2, scale(this.sub('G', y1), -1));
    return concat([add(y1, scale(this.sub('F', x2), -1)), x2]);
  }

  private sub(f: 'F' | 'G', x: Tensor): Tensor {
    const p = (rest: string) => this.params.get(`${this.prefix}.${f}.${rest}`)!;
    // The activation runs in the first matmul's epilogue.
    return linear(linear(x, p('0.weight'), p('0.bias'), { activation: EPILOGUE_ACTIVATIONS[this.nonLinearity] }), p('2.weight'), p('2.bias'));
  }
}
