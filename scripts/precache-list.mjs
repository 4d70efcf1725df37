// After `vite build`: lists the chunks that workers import (the WebLLM chunk
// among them) in build/worker-chunks.json. SvelteKit's `$service-worker`
// `build` list names the worker entry but not the chunks it imports, and the
// service worker must precache those too for the app to run offline.
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../build', import.meta.url));
const workers = join(root, '_app', 'immutable', 'workers');

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}

const chunks = walk(workers)
  .map((path) => '/' + relative(root, path).split(sep).join('/'))
  .sort();
writeFileSync(join(root, 'worker-chunks.json'), JSON.stringify(chunks, null, 2) + '\n');
console.log(`worker-chunks.json: ${chunks.length} files the service worker precaches`);
