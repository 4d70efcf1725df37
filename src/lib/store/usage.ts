/** How much this site stores, and may store, where the browser says. */
export interface StorageUsage {
  usage: number;
  quota: number;
}

export async function storageUsage(): Promise<StorageUsage | null> {
  const estimate = await globalThis.navigator?.storage?.estimate?.();
  if (!estimate || estimate.quota === undefined) return null;
  return { usage: estimate.usage ?? 0, quota: estimate.quota };
}
