/**
 * This browser's settings as the pages see them: read when a page opens,
 * changed a few fields at a time (each change one transaction, see store/settings).
 */
import type { MachineSettings } from '$lib/shared/settings';
import { SETTINGS_CHANNEL } from '$lib/shared/storage-names';
import { DEFAULT_MACHINE_SETTINGS, getSettings, updateSettings } from '$lib/store/settings';

// A tab that saves the settings tells the others, which read them again: a job running in an
// older tab follows a setting changed in a newer one (the screen lock, the notice at its end).
const channel =
  typeof BroadcastChannel === 'function' ? new BroadcastChannel(SETTINGS_CHANNEL) : null;

class Settings {
  current = $state.raw<MachineSettings>(DEFAULT_MACHINE_SETTINGS);
  loaded = $state(false);

  /** Reads the stored settings (another tab or page may have changed them). */
  async load(): Promise<MachineSettings> {
    this.current = await getSettings();
    this.loaded = true;
    return this.current;
  }

  /**
   * Saves the fields `change` returns, in one transaction with the settings as stored
   * now; derive new values from its argument, never from `current` (another tab may
   * have saved since this page read them).
   */
  async update(
    change: (stored: MachineSettings) => Partial<MachineSettings>
  ): Promise<MachineSettings> {
    this.current = await updateSettings(change);
    this.loaded = true;
    channel?.postMessage('saved');
    return this.current;
  }
}

export const settings = new Settings();

channel?.addEventListener('message', () => {
  settings.load().catch((error: unknown) => {
    console.warn('LocalBatch could not read the settings another tab saved:', error);
  });
});
