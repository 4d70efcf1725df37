// Remembering a job's server, on an in-memory IndexedDB (fake-indexeddb): the settings as
// stored now decide, not as this page last read them.
import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { rememberServer } from '$lib/page/create-job';
import { settings } from '$lib/page/settings.svelte';
import { getSettings, updateSettings } from '$lib/store/settings';

describe('rememberServer', () => {
  it('two servers remembered at once are both kept, with their keys', async () => {
    await settings.load();
    await Promise.all([
      rememberServer('http://a.test/v1', 'key-a'),
      rememberServer('http://b.test/v1', 'key-b')
    ]);
    const stored = await getSettings();
    expect(stored.servers?.toSorted()).toEqual(['http://a.test/v1', 'http://b.test/v1']);
    expect(stored.serverKeys).toEqual({ 'http://a.test/v1': 'key-a', 'http://b.test/v1': 'key-b' });
    expect(settings.current).toEqual(stored);
  });

  it('keeps a server another tab added since this page read the settings', async () => {
    const before = await settings.load();
    await updateSettings((current) => ({
      servers: [...(current.servers ?? []), 'http://other-tab.test/v1']
    }));
    await rememberServer('http://c.test/v1', '');
    const stored = await getSettings();
    expect(stored.servers).toEqual([
      ...(before.servers ?? []),
      'http://other-tab.test/v1',
      'http://c.test/v1'
    ]);
    // An empty key keeps none for that server and forgets none of the others.
    expect(stored.serverKeys).toEqual(before.serverKeys ?? {});
  });
});
