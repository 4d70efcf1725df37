// Makes the real-runtime test kit (scripts/real-kit/kit.mjs) from the model library in
// $LOCALBATCH_TEST_LIBS: node scripts/real-kit.mjs [--out <folder>]
// (default .test-output/real-kit/). Does nothing when an identical kit is there already.
import { DEFAULT_KIT_FOLDER, ensureRealKit, findKitLibrary } from './real-kit/kit.mjs';

const outIndex = process.argv.indexOf('--out');
const out = outIndex > 0 ? process.argv[outIndex + 1] : DEFAULT_KIT_FOLDER;
if (!out) {
  console.error('usage: node scripts/real-kit.mjs [--out <folder>]');
  process.exit(2);
}
const found = findKitLibrary();
if (found.problem !== undefined) {
  console.error(found.problem);
  process.exit(1);
}
const started = performance.now();
const kit = ensureRealKit({ library: found.library, out });
const seconds = ((performance.now() - started) / 1000).toFixed(1);
console.log(
  `Real-runtime kit for ${kit.modelId} in ${kit.folder}: ${kit.made ? `made in ${seconds} s` : 'up to date'}.`
);
