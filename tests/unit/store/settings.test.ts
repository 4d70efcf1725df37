// This browser's settings on an in-memory IndexedDB (fake-indexeddb): the same transactions as the browser's.
import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { DEFAULT_MACHINE_SETTINGS, getSettings, updateSettings } from '$lib/store/settings';

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
      updateSettings((current) => ({ servers: [...(current.servers ?? []), server] }));
    await Promise.all([add('http://a.test'), add('http://b.test')]);
    expect((await getSettings()).servers).toEqual(['http://a.test', 'http://b.test']);
  });
});
