/** Packs a plain object into a uniform buffer through a reflected struct layout. */
import type { UniformLayout } from '../compiler/manifest.js';

/** A uniform value: a scalar, or an array for a vector field. */
export type UniformValue = number | boolean | readonly number[];

/**
 * Packs `values` by the layout: every field must be given, no other field
 * may be. Throws an Error whose message names the struct and field; the
 * launcher prefixes the kernel name.
 */
export function packUniforms(layout: UniformLayout, values: Record<string, UniformValue>): ArrayBuffer {
  const fields = new Set(layout.members.map((m) => m.name));
  for (const key of Object.keys(values)) {
    if (!fields.has(key)) {
      throw new Error(`uniform struct ${layout.struct} has no field '${key}' (fields: ${[...fields].join(', ')})`);
    }
  }
  const bytes = new ArrayBuffer(Math.max(16, Math.ceil(layout.size / 16) * 16));
  const view = new DataView(bytes);
  for (const member of layout.members) {
    const value = values[member.name];
    if (value === undefined) throw new Error(`uniform field ${layout.struct}.${member.name} is missing`);
    const scalar = /(u32|i32|f32)/.exec(member.type)?.[1] as 'u32' | 'i32' | 'f32';
    const components = typeof value === 'object' ? value : [Number(value)];
    const expected = member.size / 4;
    if (components.length !== expected) {
      throw new Error(`uniform field ${layout.struct}.${member.name} is ${member.type}; got ${components.length} component(s)`);
    }
    components.forEach((x, i) => {
      const offset = member.offset + 4 * i;
      if (scalar === 'f32') {
        if (!Number.isFinite(x)) throw new Error(`uniform field ${layout.struct}.${member.name} must be finite, got ${x}`);
        view.setFloat32(offset, x, true);
      } else if (scalar === 'u32') {
        if (!Number.isInteger(x) || x < 0 || x > 0xffffffff) throw new Error(`uniform field ${layout.struct}.${member.name} is u32; got ${x}`);
        view.setUint32(offset, x, true);
      } else {
        if (!Number.isInteger(x) || x < -0x80000000 || x > 0x7fffffff) throw new Error(`uniform field ${layout.struct}.${member.name} is i32; got ${x}`);
        view.setInt32(offset, x, true);
      }
    });
  }
  return bytes;
}
