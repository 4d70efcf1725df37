// Serves the built app (build/, or $ROOT) on http://localhost:4173, or $PORT,
// as a single-page app: unknown paths get index.html.
import { createServer } from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import sirv from 'sirv';

const root = process.env.ROOT ?? fileURLToPath(new URL('../build', import.meta.url));
if (!existsSync(root)) {
  console.error('No build found. Run `npm run build` first (or `npm start`, which builds).');
  process.exit(1);
}
// The page carries its Content-Security-Policy in a <meta> tag; a worker follows only its own
// response's policy, so worker scripts get the same policy as a header. (Once the service worker
// serves the app it does the same, with the model mirror the user set.)
const policy = /<meta http-equiv="content-security-policy" content="([^"]*)"/i.exec(
  readFileSync(`${root}/index.html`, 'utf8')
)?.[1];
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
    if (policy && pathname.startsWith('/_app/immutable/workers/')) {
      res.setHeader('Content-Security-Policy', policy);
    }
  }
});

createServer((req, res) => assets(req, res)).listen(port, host, () => {
  console.log(`LocalBatch is served on http://${host}:${port}`);
});
