/**
 * This browser's settings (not a job's). Every change is one read-modify-write
 * transaction, so two tabs saving different settings at once both keep theirs.
 */
import { get, update } from 'idb-keyval';
import { DEFAULT_SAFETY_MARGIN } from '$lib/plan/memory';
import type { MachineSettings } from '$lib/shared/settings';
import { STORAGE } from '$lib/shared/storage-names';
import { settingsStore } from './db';

const KEY = STORAGE.settings.machineKey;

/** The margin's default and its reasons: DEFAULT_SAFETY_MARGIN in the memory plan. */
export const DEFAULT_MACHINE_SETTINGS: MachineSettings = {
  gpuMemoryMB: null,
  safetyMargin: DEFAULT_SAFETY_MARGIN,
  autoResume: true,
  modelMirror: null,
  modelMirrorPending: null
};

export async function getSettings(): Promise<MachineSettings> {
  const stored = await get<Partial<MachineSettings>>(KEY, settingsStore());
  return { ...DEFAULT_MACHINE_SETTINGS, ...stored };
}

/**
 * Changes some settings and keeps the rest, in one transaction: `change` gets the
 * settings as stored now (not as a page last read them, which another tab may have
 * changed since) and returns the fields to change. Resolves to the settings saved.
 */
export async function updateSettings(
  change: (current: MachineSettings) => Partial<MachineSettings>
): Promise<MachineSettings> {
  let saved = DEFAULT_MACHINE_SETTINGS;
  await update<Partial<MachineSettings>>(
    KEY,
    (stored) => {
      const current = { ...DEFAULT_MACHINE_SETTINGS, ...stored };
      saved = { ...current, ...change(current) };
      return saved;
    },
    settingsStore()
  );
  return saved;
}
