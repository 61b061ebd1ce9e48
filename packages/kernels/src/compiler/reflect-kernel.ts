/**
 * Reflection of one WGSL kernel file into its manifest entry, with the
 * checks that keep kernels launchable by name: a header that explains the
 * math and layout, one bind group, at most one uniform struct per entry
 * point, a resolvable workgroup size and typed override constants.
 */
import {
  WgslParser,
  WgslReflect,
  type FunctionInfo,
  type TypeInfo,
  type VariableInfo,
} from 'wgsl_reflect/wgsl_reflect.module.js';
import { KernelCompileError } from './errors.js';
import type {
  BindingInfo,
  EntryPointInfo,
  KernelFileInfo,
  OverrideDecl,
  OverrideValue,
  UniformLayout,
} from './manifest.js';

const SCALAR_TYPES = new Set(['bool', 'u32', 'i32', 'f32']);
const UNIFORM_MEMBER_TYPE = /^(u32|i32|f32|vec[234]<(u32|i32|f32)>)$/;
// wgsl_reflect's ResourceType enum: 0 uniform, 1 storage.
const RESOURCE_UNIFORM = 0;
const RESOURCE_STORAGE = 1;
/** Words a header must contain: the math and the memory layout. */
const HEADER_SECTIONS = ['MATH', 'LAYOUT'];

/** Writes a reflected type back as WGSL text, e.g. `array<vec4<f32>>`. */
export function typeName(type: TypeInfo): string {
  const format = (type as { format?: TypeInfo | null }).format;
  if (!format) return type.name;
  const count = (type as { count?: number }).count;
  const inner = typeName(format);
  return count ? `${type.name}<${inner}, ${count}>` : `${type.name}<${inner}>`;
}

/** The leading `//` comment block of a WGSL file, without the slashes. */
export function headerComment(source: string): string {
  const lines: string[] = [];
  for (const line of source.split('\n')) {
    const trimmed = line.trim();
    if (!trimmed.startsWith('//')) break;
    lines.push(trimmed.replace(/^\/\/ ?/, ''));
  }
  return lines.join('\n').trim();
}

/** Default values of `override` declarations and the `enable` directives, from the parsed AST. */
function declarations(file: string, source: string): { defaults: Map<string, OverrideValue>; enables: string[] } {
  const defaults = new Map<string, OverrideValue>();
  const enables: string[] = [];
  for (const node of new WgslParser().parse(source)) {
    if (node.astNodeType === 'enable') enables.push((node as unknown as { name: string }).name);
    if (node.astNodeType !== 'override') continue;
    const decl = node as unknown as { name: string; line: number; value?: { value?: { data?: ArrayLike<number> } } };
    const literal = decl.value?.value?.data?.[0];
    if (literal === undefined) {
      throw new KernelCompileError(file, `override '${decl.name}' needs a literal default value`, decl.line);
    }
    defaults.set(decl.name, literal);
  }
  return { defaults, enables };
}

function bindingOf(file: string, entry: string, v: VariableInfo): BindingInfo {
  if (v.resourceType !== RESOURCE_UNIFORM && v.resourceType !== RESOURCE_STORAGE) {
    throw new KernelCompileError(file, `entry point '${entry}': binding '${v.name}' is not a buffer; kernels bind only uniform and storage buffers`);
  }
  if (v.group !== 0) {
    throw new KernelCompileError(file, `binding '${v.name}' is in @group(${v.group}); kernels use @group(0) only`);
  }
  return {
    name: v.name,
    group: v.group,
    binding: v.binding,
    type: typeName(v.type),
    resource: v.resourceType === RESOURCE_UNIFORM ? 'uniform' : 'storage',
    access: v.resourceType === RESOURCE_UNIFORM || v.access === 'read' ? 'read' : 'read_write',
  };
}

function uniformLayout(file: string, v: VariableInfo): UniformLayout {
  const members = v.members;
  if (!members) {
    throw new KernelCompileError(file, `uniform '${v.name}' must be a struct so its fields can be packed by name`);
  }
  return {
    binding: v.name,
    struct: v.type.name,
    size: v.size,
    members: members.map((m) => {
      const type = typeName(m.type);
      if (!UNIFORM_MEMBER_TYPE.test(type)) {
        throw new KernelCompileError(file, `uniform field '${v.type.name}.${m.name}' has type ${type}; use u32, i32, f32 or vectors of them`);
      }
      return { name: m.name, type, offset: m.offset, size: m.size };
    }),
  };
}

/** Every override an entry point reads, through the functions it calls too. */
function overridesUsed(fn: FunctionInfo): Set<string> {
  const names = new Set<string>();
  const seen = new Set<FunctionInfo>();
  const visit = (f: FunctionInfo): void => {
    if (seen.has(f)) return;
    seen.add(f);
    for (const o of f.overrides) names.add(o.name);
    for (const callee of f.calls) visit(callee);
  };
  visit(fn);
  return names;
}

function workgroupSizeOf(file: string, fn: FunctionInfo, overrides: Map<string, OverrideDecl>): EntryPointInfo['workgroupSize'] {
  const attr = fn.attributes?.find((a) => a.name === 'workgroup_size');
  if (!attr) throw new KernelCompileError(file, `entry point '${fn.name}' has no @workgroup_size`);
  // wgsl_reflect gives a bare string for one argument and an array for several.
  const raw = Array.isArray(attr.value) ? attr.value : [attr.value];
  const dims = [raw[0], raw[1] ?? '1', raw[2] ?? '1'].map((d) => {
    const text = String(d).trim().replace(/u$/, '');
    if (/^\d+$/.test(text)) return Number(text);
    const decl = overrides.get(text);
    if (!decl || decl.type !== 'u32') {
      throw new KernelCompileError(file, `entry point '${fn.name}': workgroup size '${text}' must be an integer or a u32 override constant`);
    }
    return text;
  });
  return dims as EntryPointInfo['workgroupSize'];
}

/**
 * Reflects one WGSL kernel file. Throws {@link KernelCompileError} naming the
 * file when the source cannot be parsed or breaks a kernel convention.
 * Full WGSL validation (types, uniformity) is done by {@link validateWithTint}.
 */
export function reflectKernelFile(file: string, source: string): KernelFileInfo {
  const header = headerComment(source);
  const missing = HEADER_SECTIONS.filter((s) => !header.includes(s));
  if (missing.length) {
    throw new KernelCompileError(file, `the header comment must explain the kernel; it lacks the section(s) ${missing.join(', ')}`, 1);
  }

  let reflect: WgslReflect;
  try {
    reflect = new WgslReflect(source);
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    const line = /Line: (\d+)/.exec(message)?.[1];
    throw new KernelCompileError(file, `cannot parse WGSL: ${message}`, line ? Number(line) : undefined);
  }

  const { defaults, enables } = declarations(file, source);
  const overrides = new Map<string, OverrideDecl>();
  for (const o of reflect.overrides) {
    const type = o.type?.name ?? '';
    if (!SCALAR_TYPES.has(type)) {
      throw new KernelCompileError(file, `override '${o.name}' has type '${type}'; use bool, u32, i32 or f32`);
    }
    const value = defaults.get(o.name) ?? 0;
    overrides.set(o.name, { name: o.name, type, default: type === 'bool' ? Boolean(value) : Number(value) });
  }

  const entryPoints = reflect.entry.compute.map((fn): EntryPointInfo => {
    const bindings = fn.resources
      .map((v) => bindingOf(file, fn.name, v))
      .sort((x, y) => x.binding - y.binding);
    const uniforms = fn.resources.filter((v) => v.resourceType === RESOURCE_UNIFORM);
    if (uniforms.length > 1) {
      throw new KernelCompileError(file, `entry point '${fn.name}' reads ${uniforms.length} uniform buffers (${uniforms.map((u) => u.name).join(', ')}); put its parameters in one struct`);
    }
    const workgroupSize = workgroupSizeOf(file, fn, overrides);
    const used = overridesUsed(fn);
    for (const d of workgroupSize) if (typeof d === 'string') used.add(d);
    const entry: EntryPointInfo = {
      name: fn.name,
      workgroupSize,
      bindings,
      overrides: [...overrides.keys()].filter((n) => used.has(n)),
    };
    if (uniforms[0]) entry.uniform = uniformLayout(file, uniforms[0]);
    return entry;
  });
  if (!entryPoints.length) throw new KernelCompileError(file, 'no @compute entry point');

  return {
    name: file.replace(/\.wgsl$/, ''),
    file,
    header,
    source,
    enables,
    overrides: [...overrides.values()],
    entryPoints,
  };
}
