// Serves the built app (build/, or $ROOT) on http://localhost:4173, or $PORT,
// as a single-page app: unknown paths get index.html.
import { createServer } from 'node:http';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import sirv from 'sirv';

const root = process.env.ROOT ?? fileURLToPath(new URL('../build', import.meta.url));
if (!existsSync(root)) {
  console.error('No build found. Run `npm run build` first (or `npm start`, which builds).');
  process.exit(1);
}
const port = Number(process.env.PORT ?? 4173);
const host = process.env.HOST ?? 'localhost';
const assets = sirv(root, {
  single: 'index.html',
  etag: true,
  setHeaders(res, pathname) {
    // Hashed assets never change; everything else is checked on every load.
    res.setHeader(
      'Cache-Control',
      pathname.startsWith('/_app/immutable/') ? 'public, max-age=31536000, immutable' : 'no-cache'
    );
  }
});

createServer((req, res) => assets(req, res)).listen(port, host, () => {
  console.log(`LocalBatch is served on http://${host}:${port}`);
});
