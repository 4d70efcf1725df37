// Pending model downloads on an in-memory IndexedDB (fake-indexeddb): the same transactions as the browser's.
import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { getPendingDownloads, setPendingDownload } from '$lib/store/downloads';
import { getSettings } from '$lib/store/settings';

describe('pending downloads', () => {
  it('marks and unmarks models, each once, without touching the settings', async () => {
    const before = await getSettings();
    await Promise.all([setPendingDownload('a', true), setPendingDownload('b', true)]);
    await setPendingDownload('a', true);
    expect((await getPendingDownloads()).sort()).toEqual(['a', 'b']);
    await setPendingDownload('a', false);
    expect(await getPendingDownloads()).toEqual(['b']);
    expect(await getSettings()).toEqual(before);
  });
});
