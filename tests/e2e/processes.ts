/**
 * Real faults for browser tests: a Chromium of our own on a profile of its
 * own, so its processes can be found and killed (SIGKILL) like a crash.
 */
import { chromium, expect, type BrowserContext } from '@playwright/test';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BASE_URL, CHROMIUM_ARGS, CHROMIUM_PATH } from './browser';

/** Turn off Chrome's blocking of WebGPU after repeated GPU crashes. */
export const NO_GPU_CRASH_LIMIT = [
  '--disable-domain-blocking-for-3d-apis',
  '--disable-gpu-process-crash-limit'
];

export async function newProfile(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'localbatch-profile-'));
}

export function launch(profile: string, extraArgs: string[] = []): Promise<BrowserContext> {
  return chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    args: [...CHROMIUM_ARGS, ...extraArgs],
    baseURL: BASE_URL,
    acceptDownloads: true
  });
}

export interface ChromiumProcess {
  pid: number;
  /** The value of --type=, or 'browser' for the main process. */
  type: string;
}

/** Every process whose command line names this profile. */
export async function profileProcesses(profile: string): Promise<ChromiumProcess[]> {
  const found: ChromiumProcess[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (!cmdline.includes(profile)) continue;
    const type = /--type=([\w-]+)/.exec(cmdline)?.[1] ?? 'browser';
    found.push({ pid: Number(entry), type });
  }
  return found;
}

/** SIGKILL of the GPU process: every device in the browser is lost with reason "unknown". */
export async function killGpuProcess(profile: string): Promise<number> {
  const gpu = (await profileProcesses(profile)).filter((p) => p.type === 'gpu-process');
  expect(gpu.length, 'a GPU process for this profile').toBeGreaterThan(0);
  for (const { pid } of gpu) process.kill(pid, 'SIGKILL');
  return gpu.length;
}

/** SIGKILL of the browser process, then wait until no process holds the profile. */
export async function killBrowser(profile: string, context: BrowserContext): Promise<void> {
  const browser = (await profileProcesses(profile)).find((p) => p.type === 'browser');
  expect(browser, 'the browser process of this profile').toBeTruthy();
  const closed = new Promise((resolve) => context.once('close', resolve));
  process.kill(browser!.pid, 'SIGKILL');
  await closed;
  await expect
    .poll(async () => (await profileProcesses(profile)).length, { timeout: 15_000 })
    .toBe(0);
}

export async function removeProfile(profile: string): Promise<void> {
  for (const { pid } of await profileProcesses(profile)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await rm(profile, { recursive: true, force: true });
}
