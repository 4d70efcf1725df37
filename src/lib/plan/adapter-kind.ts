/**
 * What kind of GPU an adapter is, from what WebGPU reports of it. A software GPU (a CPU
 * renderer: SwiftShader, Mesa's llvmpipe/lavapipe, Microsoft's WARP) uses system RAM and is
 * slow; it may not say it is a fallback (lavapipe reports `isFallbackAdapter` false), so its
 * name decides. Chrome shows an adapter's description only with
 * --enable-webgpu-developer-features; where every field is blank the kind is not known. Pure.
 */
import type { AdapterFacts } from './types';

export type AdapterKind =
  | { kind: 'software'; name: string }
  | { kind: 'integrated' }
  | { kind: 'discrete' }
  /** The browser names no vendor, architecture or description, and says it is no fallback. */
  | { kind: 'unnamed' };

/** CPU renderers by the names they give, and the name the plan uses. */
const CPU_RENDERERS: [RegExp, string][] = [
  [/swiftshader/i, 'SwiftShader'],
  // lavapipe is Mesa's Vulkan driver on llvmpipe; the adapter names llvmpipe.
  [/llvmpipe|lavapipe/i, "Mesa's llvmpipe"],
  [/softpipe/i, "Mesa's softpipe"],
  [/microsoft basic render|\bwarp\b/i, "Microsoft's WARP"]
];

const INTEGRATED_VENDORS = ['apple', 'intel', 'arm', 'qualcomm', 'imagination', 'img-tec'];

/** Discrete Intel GPUs (Arc): architecture 'xe-hpg' / 'xe-2hpg' or an Arc A/B-series name. */
function isDiscreteIntel(adapter: AdapterFacts): boolean {
  return /hpg|hpc/i.test(adapter.architecture) || /\barc\b.*\b[ab]\d{3}/i.test(adapter.description);
}

export function adapterKind(adapter: AdapterFacts): AdapterKind {
  const names = `${adapter.vendor} ${adapter.architecture} ${adapter.description}`;
  const renderer = CPU_RENDERERS.find(([pattern]) => pattern.test(names));
  if (renderer) return { kind: 'software', name: renderer[1] };
  if (adapter.isFallbackAdapter) return { kind: 'software', name: 'a fallback adapter' };
  const vendor = adapter.vendor.toLowerCase();
  if (vendor === 'intel')
    return isDiscreteIntel(adapter) ? { kind: 'discrete' } : { kind: 'integrated' };
  if (INTEGRATED_VENDORS.includes(vendor)) return { kind: 'integrated' };
  if (/integrated|\bapu\b|\buma\b/i.test(`${adapter.architecture} ${adapter.description}`))
    return { kind: 'integrated' };
  if (names.trim() === '') return { kind: 'unnamed' };
  return { kind: 'discrete' };
}

/** The adapter's kind in a few words, for the GPU panel: "software GPU (SwiftShader)". */
export function describeKind(kind: AdapterKind): string {
  switch (kind.kind) {
    case 'software':
      return `software GPU (${kind.name}, on the CPU)`;
    case 'integrated':
      return 'integrated GPU';
    case 'discrete':
      return 'discrete GPU';
    case 'unnamed':
      return 'a GPU the browser does not name';
  }
}
