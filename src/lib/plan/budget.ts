/** How much memory a GPU has, as far as can be known without measuring. Pure. */
import { GIB, MIB, formatCount, formatMiB } from '$lib/shared/figures';
import { adapterKind, type AdapterKind } from './adapter-kind';
import type { AdapterFacts, MemoryBudget } from './types';

/**
 * Share of system memory a GPU that shares it can use. Apple: Metal's
 * recommended working set is about two thirds of unified memory. Others:
 * Windows gives integrated GPUs up to half of RAM as shared GPU memory, and a
 * software GPU (SwiftShader, llvmpipe) competes with the browser and the OS for
 * the same RAM, so half.
 */
function sharedMemoryFraction(adapter: AdapterFacts, kind: AdapterKind): number {
  return adapter.vendor.toLowerCase() === 'apple' && kind.kind !== 'software' ? 2 / 3 : 1 / 2;
}

export interface BudgetEstimate {
  /** Total GPU memory the plan may count on, before the safety margin; null when unknown. */
  bytes: number | null;
  reason: string;
  source: 'user' | 'shared' | 'unknown';
}

/** How much memory this GPU has, as far as can be known without measuring. */
export function budgetFor(adapter: AdapterFacts, budget: MemoryBudget): BudgetEstimate {
  if (budget.userMB !== null && budget.userMB > 0) {
    return {
      bytes: Math.floor(budget.userMB * MIB),
      reason: `You said this GPU has ${formatCount(budget.userMB)} MiB.`,
      source: 'user'
    };
  }
  if (budget.unknownReason) {
    return { bytes: null, reason: budget.unknownReason, source: 'unknown' };
  }
  const kind = adapterKind(adapter);
  if (kind.kind === 'software' || kind.kind === 'integrated') {
    const what =
      kind.kind === 'software'
        ? `This is a software GPU (${kind.name}, running on the CPU): it uses system RAM`
        : 'This is an integrated GPU: it shares system RAM';
    const gb = adapter.deviceMemoryGB;
    if (gb === null || !(gb > 0)) {
      return {
        bytes: null,
        reason: `${what}, but the browser does not say how much RAM there is, so the GPU memory is unknown until you say how much it has or "Check this GPU" shows it.`,
        source: 'unknown'
      };
    }
    const fraction = sharedMemoryFraction(adapter, kind);
    const bytes = Math.floor(gb * GIB * fraction);
    const share =
      fraction !== 1 / 2
        ? "about two thirds of it (Metal's recommended working set on unified memory)"
        : kind.kind === 'software'
          ? 'about half of it (the browser, the system and other programs need the rest)'
          : 'about half of it (the share Windows gives integrated GPUs; other programs need the rest)';
    return {
      bytes,
      reason: `${what}. The browser reports ${gb} GB of RAM (Chrome reports at most 8 GB, so there may be more) and the GPU can use ${share}: ${formatMiB(bytes)}. If this machine has more memory, say how much.`,
      source: 'shared'
    };
  }
  const unknown =
    kind.kind === 'unnamed'
      ? 'The browser does not name this GPU (no vendor, architecture or description), so whether it has memory of its own and how much is unknown'
      : "No web API tells a discrete GPU's memory size: it is unknown";
  return {
    bytes: null,
    reason: `${unknown} until you say how much this GPU has or "Check this GPU" shows it.`,
    source: 'unknown'
  };
}

/** The safety margin as the plan keeps it: between 0 and 90%. */
export function marginOf(safetyMargin: number): number {
  return Math.min(0.9, Math.max(0, safetyMargin));
}

/** What the model may use of `bytes` once the margin is kept free; null when unknown. */
export function usableBytes(bytes: number | null, safetyMargin: number): number | null {
  return bytes === null ? null : Math.floor(bytes * (1 - marginOf(safetyMargin)));
}
