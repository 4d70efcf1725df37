// Renders the PWA's PNG icons from static/icons/*.svg and takes the manifest's
// screenshots of the built app (a finished simulated job), with Playwright and
// Debian's Chromium. Run after changing the icons or the look of the job page:
//   npm run build && node scripts/pwa-assets.mjs
// The outputs are committed (static/icons/*.png, static/screenshots/*.png).
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { chromium } from '@playwright/test';

const here = (path) => fileURLToPath(new URL(path, import.meta.url));
const PORT = 4394;
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--enable-unsafe-webgpu']
});

async function renderIcon(svgPath, size, outPath) {
  const svg = await readFile(here(svgPath), 'utf8');
  const page = await browser.newPage({ viewport: { width: size, height: size } });
  await page.setContent(
    `<style>html,body{margin:0;background:transparent}svg{display:block;width:${size}px;height:${size}px}</style>${svg}`
  );
  await page.screenshot({ path: here(outPath), omitBackground: true });
  await page.close();
}

await renderIcon('../static/icons/icon.svg', 192, '../static/icons/icon-192.png');
await renderIcon('../static/icons/icon.svg', 512, '../static/icons/icon-512.png');
await renderIcon('../static/icons/icon-maskable.svg', 512, '../static/icons/icon-maskable-512.png');
await renderIcon('../static/icons/icon.svg', 180, '../static/icons/apple-touch-icon.png');

const server = spawn(process.execPath, [here('serve.mjs')], {
  env: { ...process.env, PORT: String(PORT) },
  stdio: 'ignore'
});
await new Promise((resolve) => setTimeout(resolve, 800));
try {
  const lines = Array.from({ length: 24 }, (_, i) =>
    JSON.stringify({
      custom_id: `pair-${i + 1}`,
      prompt: `Score this question/answer pair from 1 to 5.\nQ: What is ${i + 1} + ${i + 1}?\nA: ${2 * (i + 1)}`,
      max_tokens: 32
    })
  );
  const shots = [
    { name: 'wide', viewport: { width: 1280, height: 800 } },
    { name: 'narrow', viewport: { width: 412, height: 915 } }
  ];
  for (const shot of shots) {
    const context = await browser.newContext({ viewport: shot.viewport });
    const page = await context.newPage();
    await page.goto(`http://localhost:${PORT}/?engine=simulated&tokenDelayMs=0`);
    await page.getByLabel('Prompt file').setInputFiles({
      name: 'weclone-pairs.jsonl',
      mimeType: 'application/jsonl',
      buffer: Buffer.from(lines.join('\n'))
    });
    await page.getByRole('button', { name: 'Create job', exact: true }).click();
    await page.waitForURL(/\/jobs\//);
    await page.getByRole('button', { name: 'Start', exact: true }).click();
    await page.getByRole('status').filter({ hasText: 'Completed' }).first().waitFor();
    await page.screenshot({ path: here(`../static/screenshots/${shot.name}.png`) });
    await context.close();
  }
} finally {
  server.kill();
  await browser.close();
}
console.log('icons and screenshots written under static/');
