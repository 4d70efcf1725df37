/**
 * The Content-Security-Policy as the service worker hands it out. The policy
 * itself is written once, in svelte.config.js (`kit.csp`), and SvelteKit puts
 * it in the page as a <meta> tag. The service worker:
 * - puts the model source in `connect-src` (a static site cannot know it at
 *   build time): a self-hosted mirror replaces the official model hosts, and a
 *   mirror being checked is added, in the page's tag, and
 * - sends the same policy as a header with worker scripts: a worker loaded
 *   from the network follows its own response's policy, not the page's, and
 *   the runner worker is where the model files are fetched.
 */
const META = /<meta http-equiv="content-security-policy" content="([^"]*)"\s*\/?>/i;

/** The policy in a page's CSP <meta> tag, or null. */
export function policyFromPage(html: string): string | null {
  return META.exec(html)?.[1]?.replaceAll('&#39;', "'").replaceAll('&quot;', '"') ?? null;
}

/** The policy with `origins` added to connect-src (created when missing). */
export function withConnectSources(policy: string, origins: readonly string[]): string {
  const extra = origins.filter((origin) => /^https?:\/\/[^\s;,'"]+$/.test(origin));
  if (!extra.length) return policy;
  const directives = policy.split(';').map((part) => part.trim());
  const index = directives.findIndex((part) => /^connect-src(\s|$)/.test(part));
  if (index === -1) return [...directives, `connect-src 'self' ${extra.join(' ')}`].join('; ');
  const present = new Set(directives[index]!.split(/\s+/));
  const added = extra.filter((origin) => !present.has(origin));
  directives[index] = [directives[index], ...added].join(' ');
  return directives.join('; ');
}

/**
 * The policy for the model source: with a mirror, connect-src allows the app
 * and the mirror only (not the official hosts); a mirror being checked
 * (`pending`) is added either way, and so are the OpenAI-compatible servers the
 * user set for jobs (their origins only).
 */
export function policyForModelSource(
  policy: string,
  source: { mirror: string | null; pending: string | null; servers?: readonly string[] }
): string {
  const pending = [...(source.pending ? [source.pending] : []), ...(source.servers ?? [])];
  if (!source.mirror) return withConnectSources(policy, pending);
  const directives = policy
    .split(';')
    .map((part) => part.trim())
    .filter((part) => part && !/^connect-src(\s|$)/.test(part));
  return withConnectSources(directives.join('; '), [source.mirror, ...pending]);
}

/** The page with its CSP <meta> tag carrying `policy`. */
export function pageWithPolicy(html: string, policy: string): string {
  const escaped = policy.replaceAll('"', '&quot;');
  return html.replace(META, `<meta http-equiv="content-security-policy" content="${escaped}">`);
}
