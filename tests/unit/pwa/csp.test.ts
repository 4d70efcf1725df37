import { describe, expect, it } from 'vitest';
import {
  pageWithPolicy,
  policyForModelSource,
  policyFromPage,
  withConnectSources
} from '$lib/pwa/csp';

const POLICY =
  "default-src 'self'; connect-src 'self' https://huggingface.co; script-src 'self' 'wasm-unsafe-eval'";
const PAGE = `<head><meta http-equiv="content-security-policy" content="${POLICY}"><title>x</title></head>`;

describe('the CSP as the service worker hands it out', () => {
  it('reads the policy from the page', () => {
    expect(policyFromPage(PAGE)).toBe(POLICY);
    expect(policyFromPage('<head></head>')).toBeNull();
  });

  it("adds a mirror's origin to connect-src once, and nothing that is not an origin", () => {
    expect(withConnectSources(POLICY, ['https://models.example.org'])).toBe(
      "default-src 'self'; connect-src 'self' https://huggingface.co https://models.example.org; script-src 'self' 'wasm-unsafe-eval'"
    );
    expect(withConnectSources(POLICY, ['https://huggingface.co'])).toBe(POLICY);
    expect(withConnectSources(POLICY, ["https://x.org; script-src 'unsafe-inline'", '*'])).toBe(
      POLICY
    );
    expect(withConnectSources("default-src 'self'", ['http://localhost:8000'])).toBe(
      "default-src 'self'; connect-src 'self' http://localhost:8000"
    );
  });

  it('with a mirror, connect-src names the app and the mirror only; a mirror being checked is added', () => {
    expect(policyForModelSource(POLICY, { mirror: null, pending: null })).toBe(POLICY);
    expect(policyForModelSource(POLICY, { mirror: 'https://m.example.org', pending: null })).toBe(
      "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self' https://m.example.org"
    );
    expect(policyForModelSource(POLICY, { mirror: null, pending: 'http://127.0.0.1:4340' })).toBe(
      "default-src 'self'; connect-src 'self' https://huggingface.co http://127.0.0.1:4340; script-src 'self' 'wasm-unsafe-eval'"
    );
    expect(
      policyForModelSource(POLICY, {
        mirror: 'https://m.example.org',
        pending: 'https://n.example.org'
      })
    ).toContain("connect-src 'self' https://m.example.org https://n.example.org");
  });

  it('adds the origins of the servers jobs use, and only those', () => {
    expect(
      policyForModelSource(POLICY, {
        mirror: null,
        pending: null,
        servers: ['http://127.0.0.1:8000']
      })
    ).toBe(
      "default-src 'self'; connect-src 'self' https://huggingface.co http://127.0.0.1:8000; script-src 'self' 'wasm-unsafe-eval'"
    );
    expect(
      policyForModelSource(POLICY, {
        mirror: 'https://m.example.org',
        pending: null,
        servers: ['https://gpu.example.org', 'not a url; script-src *']
      })
    ).toBe(
      "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self' https://m.example.org https://gpu.example.org"
    );
  });

  it('puts the policy back in the page', () => {
    const policy = withConnectSources(POLICY, ['https://m.example.org']);
    const page = pageWithPolicy(PAGE, policy);
    expect(policyFromPage(page)).toBe(policy);
    expect(page).toContain('<title>x</title>');
  });
});
