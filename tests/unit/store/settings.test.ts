// This browser's settings on an in-memory IndexedDB (fake-indexeddb): the same transactions as the browser's.
import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { get, set } from 'idb-keyval';
import { settingsStore } from '$lib/store/db';
import {
  DEFAULT_MACHINE_SETTINGS,
  SETTINGS_VERSION,
  getSettings,
  migrateSettings,
  updateSettings
} from '$lib/store/settings';
import { STORAGE } from '$lib/shared/storage-names';

describe('settings', () => {
  it('updates change only the fields given, and two at once both stay', async () => {
    expect(await getSettings()).toEqual(DEFAULT_MACHINE_SETTINGS);
    await Promise.all([
      updateSettings(() => ({ gpuMemoryMB: 8192 })),
      updateSettings(() => ({ modelMirror: 'https://models.example.org/' })),
      updateSettings((current) => ({ safetyMargin: current.safetyMargin + 0.05 }))
    ]);
    expect(await getSettings()).toEqual({
      ...DEFAULT_MACHINE_SETTINGS,
      gpuMemoryMB: 8192,
      modelMirror: 'https://models.example.org/',
      safetyMargin: DEFAULT_MACHINE_SETTINGS.safetyMargin + 0.05
    });
    expect(await updateSettings(() => ({ autoResume: false }))).toMatchObject({
      autoResume: false,
      gpuMemoryMB: 8192
    });
  });

  it('two updates of the same list at once: each gets the list as the other left it', async () => {
    const add = (server: string) =>
      updateSettings((current) => ({ servers: [...current.servers, server] }));
    await Promise.all([add('http://a.test'), add('http://b.test')]);
    expect((await getSettings()).servers).toEqual(['http://a.test', 'http://b.test']);
  });

  it('a record saved before servers existed (version 1) reads with their defaults, and is saved as the current version', async () => {
    const key = STORAGE.settings.machineKey;
    await set(
      key,
      { gpuMemoryMB: 6000, safetyMargin: 0.2, autoResume: false, modelMirror: null },
      settingsStore()
    );
    expect(await getSettings()).toEqual({
      ...DEFAULT_MACHINE_SETTINGS,
      gpuMemoryMB: 6000,
      safetyMargin: 0.2,
      autoResume: false,
      servers: [],
      serverKeys: {}
    });
    await updateSettings(() => ({ autoResume: true }));
    expect(await get(key, settingsStore())).toEqual({
      ...DEFAULT_MACHINE_SETTINGS,
      gpuMemoryMB: 6000,
      safetyMargin: 0.2,
      autoResume: true,
      version: SETTINGS_VERSION
    });
    expect(migrateSettings(undefined)).toEqual(DEFAULT_MACHINE_SETTINGS);
    expect(migrateSettings({ version: 2, servers: ['http://a.test'] })).toEqual({
      ...DEFAULT_MACHINE_SETTINGS,
      servers: ['http://a.test']
    });
  });
});
