/** Loads dist/manifest.json, the kernel compiler's output. */
import { readFileSync } from 'node:fs';
import type { KernelManifest } from '../compiler/manifest.js';

let cached: KernelManifest | undefined;

/** The manifest built by `npm run build` in packages/kernels. */
export function loadManifest(): KernelManifest {
  if (cached) return cached;
  const url = new URL('../../dist/manifest.json', import.meta.url);
  let text: string;
  try {
    text = readFileSync(url, 'utf8');
  } catch {
    throw new Error(`kernel manifest ${url.pathname} is missing; build packages/kernels first (npm run build)`);
  }
  cached = JSON.parse(text) as KernelManifest;
  return cached;
}
