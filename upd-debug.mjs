import { chromium } from '@playwright/test';
import { spawn } from 'node:child_process';
import { cp, readFile, writeFile, mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
const dir = await mkdtemp('/tmp/upd-');
const v1 = join(dir,'v1'), v2 = join(dir,'v2');
await cp('build', v1, {recursive:true}); await cp('build', v2, {recursive:true});
const sw = await readFile(join(v1,'service-worker.js'),'utf8');
const version = /`(\d{10,})`/.exec(sw)[1];
await writeFile(join(v2,'service-worker.js'), sw.replaceAll(version, '9'+version));
function serve(root){ const c = spawn(process.execPath,['scripts/serve.mjs'],{env:{...process.env,PORT:'4399',ROOT:root},stdio:'inherit'}); return c;}
let s = serve(v1); await new Promise(r=>setTimeout(r,800));
const b = await chromium.launch({executablePath:'/usr/bin/chromium'});
const p = await b.newPage();
p.on('console', m=>console.log('console:', m.text()));
await p.goto('http://localhost:4399/');
await p.waitForFunction(async()=>{const r=await navigator.serviceWorker.getRegistration(); return r?.active?.state==='activated' && !!navigator.serviceWorker.controller;});
console.log('v1 active', await p.evaluate(()=>caches.keys()));
s.kill(); await new Promise(r=>setTimeout(r,300)); s = serve(v2); await new Promise(r=>setTimeout(r,800));
await p.evaluate(() => document.dispatchEvent(new Event('visibilitychange')));
for (let i=0;i<10;i++){ await new Promise(r=>setTimeout(r,1000)); console.log(await p.evaluate(async()=>{const r=await navigator.serviceWorker.getRegistration(); return JSON.stringify({a:r.active?.state, w:r.waiting?.state, i:r.installing?.state, keys: await caches.keys(), banner: document.body.innerText.includes('new version')})})); }
await b.close(); s.kill();
