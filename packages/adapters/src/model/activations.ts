/**
 * Activations by the names checkpoints use: an encoder's FFN (Hugging Face's
 * `hidden_act`), adapters' bottlenecks and NICE sub-networks (AdapterHub's
 * `non_linearity`). A new one is an autograd op plus one entry here.
 */
import { gelu, geluTanh, relu, swish, type Activation, type Tensor } from '@thaw/autograd';

export type NonLinearity = 'relu' | 'gelu' | 'gelu_new' | 'swish';

/** Each activation as an autograd op: `gelu` is the exact GELU, `gelu_new` its tanh form, `swish` SiLU. */
export const ACTIVATIONS: Record<NonLinearity, (x: Tensor) => Tensor> = { relu, gelu, gelu_new: geluTanh, swish };

/**
 * Each activation as a matmul epilogue (`linear(x, W, b, { activation })`):
 * the same function computed in the kernel that produces its input.
 */
export const EPILOGUE_ACTIVATIONS: Record<NonLinearity, Activation> = { relu: 'relu', gelu: 'gelu', gelu_new: 'geluTanh', swish: 'swish' };
