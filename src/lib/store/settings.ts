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

/**
 * The settings record's layout, stored in it as `version` (absent: version 1, as settings were
 * stored before servers existed). Version 2 has every field of MachineSettings.
 */
export const SETTINGS_VERSION = 2;

/** The record as stored: any version's fields, and its version. */
type StoredSettings = Partial<MachineSettings> & { version?: number };

/** The margin's default and its reasons: DEFAULT_SAFETY_MARGIN in the memory plan. */
export const DEFAULT_MACHINE_SETTINGS: MachineSettings = {
  gpuMemoryMB: null,
  safetyMargin: DEFAULT_SAFETY_MARGIN,
  autoResume: true,
  keepAwake: true,
  notifyOnEnd: false,
  modelMirror: null,
  modelMirrorPending: null,
  servers: [],
  serverKeys: {}
};

/**
 * A stored record of any version as the current layout. Version 1 lacks `servers` and
 * `serverKeys` (saved before servers existed): they get their defaults; a field a version
 * lacks gets its default as well. Pure.
 */
export function migrateSettings(stored: StoredSettings | undefined): MachineSettings {
  const settings: StoredSettings = { ...DEFAULT_MACHINE_SETTINGS, ...stored };
  delete settings.version;
  return settings as MachineSettings;
}

export async function getSettings(): Promise<MachineSettings> {
  return migrateSettings(await get<StoredSettings>(KEY, settingsStore()));
}

/**
 * Changes some settings and keeps the rest, in one transaction: `change` gets the
 * settings as stored now (not as a page last read them, which another tab may have
 * changed since) and returns the fields to change. The record is written in the current
 * layout, with its version. Resolves to the settings saved.
 */
export async function updateSettings(
  change: (current: MachineSettings) => Partial<MachineSettings>
): Promise<MachineSettings> {
  let saved = DEFAULT_MACHINE_SETTINGS;
  await update<StoredSettings>(
    KEY,
    (stored) => {
      const current = migrateSettings(stored);
      saved = { ...current, ...change(current) };
      return { ...saved, version: SETTINGS_VERSION };
    },
    settingsStore()
  );
  return saved;
}
