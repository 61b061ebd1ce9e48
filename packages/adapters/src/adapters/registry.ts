/**
 * The adapter types Thaw trains, loads and saves: one entry each, holding
 * its creation, its defaults on the suite and on real files side by side,
 * and its AdapterHub (and PEFT) forms. The CLI's `--adapter` choices, the
 * AdapterHub and PEFT readers and writers, and the runs all go through this
 * table; docs/extending.md shows how (IA)³ was added to it.
 */
import { InputFileError } from '../errors/input-error.js';
import type { Adapter, AdapterType } from './adapter.js';
import { DOUBLE_SEQ_BN, SEQ_BN } from './bottleneck.js';
import { IA3 } from './ia3.js';
import { LORA } from './lora.js';

/** Every adapter type, in the order help texts list them. */
export const ADAPTER_TYPES: readonly AdapterType[] = [SEQ_BN, DOUBLE_SEQ_BN, LORA, IA3];

/** The names `--adapter` accepts. */
export const ADAPTER_TYPE_NAMES: readonly string[] = ADAPTER_TYPES.map((t) => t.name);

/** The registry entry called `name`, or undefined. */
export function adapterType(name: string): AdapterType | undefined {
  return ADAPTER_TYPES.find((t) => t.name === name);
}

/** The registry entry of an adapter (by its {@link Adapter.type}). */
export function adapterTypeOf(adapter: Adapter): AdapterType {
  const type = adapterType(adapter.type);
  if (!type) throw new Error(`adapter '${adapter.name}' has type '${adapter.type}', which the registry does not list`);
  return type;
}

/**
 * The entry whose AdapterHub (or PEFT) form claims a saved configuration;
 * InputFileError naming the file when none does.
 */
export function adapterTypeOfConfig(format: 'adapterHub' | 'peft', config: Record<string, unknown>, path: string): AdapterType {
  const type = ADAPTER_TYPES.find((t) => t[format]?.claims(config));
  if (type) return type;
  const readable = ADAPTER_TYPES.filter((t) => t[format]).map((t) => t.name).join(', ');
  const fields = format === 'peft' ? `peft_type ${JSON.stringify(config.peft_type)}` : `config.architecture ${JSON.stringify(config.architecture ?? null)}${config.composition_mode !== undefined ? ` with composition_mode ${JSON.stringify(config.composition_mode)}` : ''}`;
  throw new InputFileError(path, `${fields} is not a type Thaw reads from ${format === 'peft' ? 'PEFT' : 'AdapterHub'} folders; it reads ${readable}`);
}
