/**
 * The kernel manifest: what the build step learns about every WGSL file by
 * reflection, and what the runtime needs to build pipelines and check launches
 * without parsing WGSL again.
 */

/** Value of an override constant: WGSL `bool`, `u32`, `i32` or `f32`. */
export type OverrideValue = number | boolean;

/** A pipeline-overridable constant declared in a kernel file. */
export interface OverrideDecl {
  name: string;
  /** WGSL scalar type: `bool`, `u32`, `i32` or `f32`. */
  type: string;
  /** The value written in the WGSL declaration. */
  default: OverrideValue;
}

/** One resource binding of an entry point. */
export interface BindingInfo {
  name: string;
  group: number;
  binding: number;
  /** WGSL type as written, e.g. `array<vec4<f32>>` or `MatmulParams`. */
  type: string;
  /** `uniform` or `storage`. */
  resource: 'uniform' | 'storage';
  /** `read` or `read_write` (uniforms are `read`). */
  access: 'read' | 'read_write';
}

/** One member of a uniform struct with its byte offset in the WGSL layout. */
export interface UniformMember {
  name: string;
  /** `u32`, `i32`, `f32`, or `vecN<…>` of those. */
  type: string;
  offset: number;
  size: number;
}

/** The uniform struct an entry point reads, laid out as WGSL lays it out. */
export interface UniformLayout {
  /** Name of the uniform binding variable. */
  binding: string;
  /** Name of the struct type. */
  struct: string;
  /** Size in bytes (already rounded to the struct's alignment). */
  size: number;
  members: UniformMember[];
}

/** A compute entry point. */
export interface EntryPointInfo {
  name: string;
  /** Three entries, each a number or the name of an override constant. */
  workgroupSize: [number | string, number | string, number | string];
  /** Every binding the entry point uses, directly or through functions it calls. */
  bindings: BindingInfo[];
  /** Names of the override constants the entry point depends on. */
  overrides: string[];
  /** The entry point's uniform struct, if it has one. */
  uniform?: UniformLayout;
}

/** One WGSL file: one kernel family. */
export interface KernelFileInfo {
  /** File name without `.wgsl`. */
  name: string;
  /** File name, relative to `src/wgsl`. */
  file: string;
  /** The leading comment block: the math, the layout and the tiling. */
  header: string;
  /** The WGSL source. */
  source: string;
  /** WGSL extensions the file enables (e.g. `subgroups`): device features it needs. */
  enables: string[];
  overrides: OverrideDecl[];
  entryPoints: EntryPointInfo[];
}

/** The build artifact `dist/manifest.json`. */
export interface KernelManifest {
  version: 1;
  kernels: KernelFileInfo[];
}
