/**
 * What a real-runtime test asks for, as Playwright fixtures, so each test sets up what it needs
 * and runs alone (`npx playwright test -c playwright.real.config.ts -g '<title>'`):
 *
 * - `kitMirror` (once per worker): the test kit made (scripts/real-kit/) and served on 127.0.0.1.
 * - `kitBrowser` (once per worker): a Chromium on a profile of its own, with GPU memory said
 *   (the software GPU's memory is system RAM, which Chrome reports as at most 8 GB), the kit's
 *   mirror as the model source, and the kit model downloaded through the Models page. A model
 *   load costs 20-40 s and a token 1.5-16 s here, so tests share the browser, not their jobs.
 * - `kit` (each test): that browser, its mirror's request log cleared.
 */
import { test as base, expect, type BrowserContext, type Page } from '@playwright/test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setGpuMemory, setMirror } from '../e2e/helpers';
import { NO_GPU_CRASH_LIMIT, launch, newProfile, removeProfile } from '../e2e/processes';
import {
  KIT_MODEL_ID,
  STAMP_FILE,
  prepareRealKit,
  startKitMirror,
  type KitMirror
} from './kit-mirror';

export const KIT_LABEL = 'Qwen2.5-0.5B-Instruct (4-bit, f32)';
export const KIT_LIB_PATH = '/libs/v0_2_48/Qwen2-0.5B-Instruct-q4f32_1-ctx4k_cs1k-webgpu.wasm';

export interface KitServed {
  /** The kit's folder (scripts/real-kit/kit.mjs). */
  folder: string;
  /** What the kit was made from: the stamp the kit writes (generator, library, tokenizer). */
  stamp: string;
  mirror: KitMirror;
}

export interface KitBrowser {
  served: KitServed;
  profile: string;
  context: BrowserContext;
  page: Page;
}

/** A Chromium on a new profile, for the kit's tests (one GPU-process kill or more: no crash limit). */
export async function launchForKit(): Promise<{
  profile: string;
  context: BrowserContext;
  page: Page;
}> {
  const profile = await newProfile();
  const context = await launch(profile, NO_GPU_CRASH_LIMIT);
  const page = context.pages()[0] ?? (await context.newPage());
  return { profile, context, page };
}

/** Memory said, the kit's mirror set: what every kit browser starts with. */
export async function useKitMirror(page: Page, mirror: KitMirror): Promise<void> {
  await page.goto('/settings');
  await setGpuMemory(page, 16_000);
  await setMirror(page, mirror.url);
}

/** Downloads the kit model on the Models page (the mirror must be the model source). */
export async function downloadKitModel(page: Page): Promise<void> {
  await page.goto('/models');
  const item = page.getByRole('listitem', { name: KIT_LABEL, exact: true });
  await expect(item.getByTestId('cached-state')).toHaveText('Not downloaded');
  await item.getByRole('button', { name: `Download ${KIT_LABEL}`, exact: true }).click();
  await expect(item.getByTestId('cached-state')).toHaveText('Downloaded', { timeout: 180_000 });
}

export const test = base.extend<
  { kit: KitBrowser },
  { kitMirror: KitServed; kitBrowser: KitBrowser }
>({
  kitMirror: [
    // eslint-disable-next-line no-empty-pattern -- Playwright reads a fixture's dependencies from this pattern: it has none
    async ({}, use) => {
      const kit = prepareRealKit();
      // scripts/test-real.mjs says why and runs nothing when the library is missing.
      if (kit.folder === undefined)
        throw new Error(`The real-runtime tests need the kit: ${kit.skipped}`);
      const mirror = await startKitMirror(kit.folder);
      const stamp = readFileSync(join(kit.folder, STAMP_FILE), 'utf8');
      await use({ folder: kit.folder, stamp, mirror });
      await mirror.close();
    },
    { scope: 'worker' }
  ],
  kitBrowser: [
    async ({ kitMirror }, use) => {
      const { profile, context, page } = await launchForKit();
      try {
        await useKitMirror(page, kitMirror.mirror);
        await downloadKitModel(page);
        await use({ served: kitMirror, profile, context, page });
      } finally {
        await context.close();
        await removeProfile(profile);
      }
    },
    { scope: 'worker', timeout: 300_000 }
  ],
  kit: async ({ kitBrowser }, use) => {
    kitBrowser.served.mirror.requests.length = 0;
    await use(kitBrowser);
  }
});

export { KIT_MODEL_ID };
