/** `thaw devices`: the adapters Dawn sees, the one Thaw picks, its limits and features. */
import { bindingCapOf, listAdapters, requestAdapter, resolveAdapterOptions, summarizeAdapter, type AdapterOptions, type AdapterSummary } from '@thaw/kernels';
import { table } from '../ui/table.js';

/** What `thaw devices --json` prints. */
export interface DevicesReport {
  /** The selection in force (from options or THAW_BACKEND / THAW_ADAPTER). */
  selection: AdapterOptions;
  /** Every adapter Dawn lists; `chosen` marks the one Thaw uses. */
  adapters: { backend: string; name: string; chosen: boolean }[];
  chosen: AdapterSummary;
  /** THAW_MAX_BINDING_BYTES, when it caps bindings below the adapter's maxStorageBufferBindingSize. */
  bindingCap?: number;
}

/** Dawn's `info.device` is the adapter name lower-cased with every run of other characters turned into '-'. */
const slug = (name: string) => name.toLowerCase().replace(/[^a-z0-9]+/g, '-');

/** Limits worth showing in the human summary (all are in the JSON). */
const KEY_LIMITS = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
];

export async function devicesReport(options: AdapterOptions): Promise<DevicesReport> {
  const selection = resolveAdapterOptions(options);
  const chosen = summarizeAdapter(await requestAdapter(selection));
  const adapters = (await listAdapters()).map((a) => ({ ...a, chosen: slug(a.name) === chosen.device }));
  const backend = chosen.backend ?? adapters.find((a) => a.chosen)?.backend ?? selection.backend;
  // Validated as every command's Gpu validates it (an invalid value is refused, naming it).
  const cap = bindingCapOf({}, chosen.limits.minStorageBufferOffsetAlignment);
  const capped = cap < (chosen.limits.maxStorageBufferBindingSize ?? Infinity);
  return { selection, adapters, chosen: { ...chosen, ...(backend ? { backend } : {}) }, ...(capped ? { bindingCap: cap } : {}) };
}

/** The adapter these options select, with its backend filled in from Dawn's adapter list. */
export async function chosenAdapter(options: AdapterOptions): Promise<AdapterSummary> {
  return (await devicesReport(options)).chosen;
}

export function formatDevices(report: DevicesReport): string {
  const c = report.chosen;
  const lines = [
    'Adapters:',
    ...report.adapters.map((a) => `  ${a.chosen ? '*' : ' '} ${a.name} (${a.backend})`),
    '',
    `Chosen: ${c.name}`,
    `  vendor ${c.vendor || '-'}, architecture ${c.architecture || '-'}, backend ${c.backend ?? '-'}${c.isFallbackAdapter ? ', fallback adapter' : ''}`,
    `  features: ${c.features.join(', ')}`,
    '',
    table(['limit', 'value'], KEY_LIMITS.filter((k) => k in c.limits).map((k) => [k, String(c.limits[k])])),
    '',
    `A tensor may hold up to maxBufferSize bytes; one larger than a binding (${report.bindingCap ? `${report.bindingCap} bytes: THAW_MAX_BINDING_BYTES` : 'maxStorageBufferBindingSize'}) is bound in chunks.`,
  ];
  return lines.join('\n');
}
