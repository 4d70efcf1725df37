/** Cache Storage in memory (Node has none), enough for the app's model code and WebLLM's ArtifactCache. */
class MemoryCache {
  entries = new Map<string, { body: ArrayBuffer; headers: Headers }>();
  #key(request: RequestInfo | URL): string {
    return new Request(request instanceof URL ? request.href : request).url;
  }
  async match(request: RequestInfo | URL): Promise<Response | undefined> {
    const entry = this.entries.get(this.#key(request));
    return entry ? new Response(entry.body.slice(0), { headers: entry.headers }) : undefined;
  }
  async put(request: RequestInfo | URL, response: Response): Promise<void> {
    // Like the browser: the entry is stored only once the whole body was read.
    const body = await response.arrayBuffer();
    this.entries.set(this.#key(request), { body, headers: new Headers(response.headers) });
  }
  async add(request: RequestInfo | URL): Promise<void> {
    const response = await fetch(request);
    if (!response.ok) throw new TypeError('bad response');
    await this.put(request, response);
  }
  async keys(): Promise<Request[]> {
    return [...this.entries.keys()].map((url) => new Request(url));
  }
  async delete(request: RequestInfo | URL): Promise<boolean> {
    return this.entries.delete(this.#key(request));
  }
}

export class MemoryCacheStorage {
  caches = new Map<string, MemoryCache>();
  async open(name: string) {
    let cache = this.caches.get(name);
    if (!cache) this.caches.set(name, (cache = new MemoryCache()));
    return cache;
  }
  async has(name: string) {
    return this.caches.has(name);
  }
  /** Like CacheStorage.match: a named cache that does not exist is not created. */
  async match(request: RequestInfo | URL, options: { cacheName?: string } = {}) {
    const names = options.cacheName ? [options.cacheName] : [...this.caches.keys()];
    for (const name of names) {
      const found = await this.caches.get(name)?.match(request);
      if (found) return found;
    }
    return undefined;
  }
}
