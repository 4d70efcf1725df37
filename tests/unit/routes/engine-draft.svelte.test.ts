import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DEFAULT_SERVER_CONCURRENCY, type LocalChoice } from '$lib/shared/engine-choice';
import { EngineDraft, type EnginePage } from '../../../src/routes/engine-draft.svelte';

const io = vi.hoisted(() => ({
  rememberServer: vi.fn(),
  listServerModels: vi.fn(),
  serverKeys: {} as Record<string, string>
}));

vi.mock('$lib/page/create-job', () => ({ rememberServer: io.rememberServer }));
vi.mock('$lib/page/runner-bridge', () => ({ listServerModels: io.listServerModels }));
vi.mock('$lib/page/settings.svelte', () => ({
  settings: {
    get current() {
      return { serverKeys: io.serverKeys };
    }
  }
}));

const SIMULATED: LocalChoice = {
  kind: 'simulated',
  modelId: null,
  tokenDelayMs: 0,
  simMemoryMB: null,
  simHangAtItem: null,
  sequences: 4
};

let address = $state<EnginePage>({ fromUrl: SIMULATED, firstTokenMs: 1500, https: false });
let stop = () => {};

function draft(): EngineDraft {
  let made!: EngineDraft;
  stop = $effect.root(() => {
    made = new EngineDraft(() => address);
  });
  return made;
}

beforeEach(() => {
  address = { fromUrl: SIMULATED, firstTokenMs: 1500, https: false };
  io.serverKeys = {};
  io.rememberServer.mockReset().mockResolvedValue(undefined);
  io.listServerModels.mockReset();
});
afterEach(() => stop());

describe('EngineDraft', () => {
  it('starts with the engine the address asks for, knobs and all', () => {
    const engine = draft();
    expect(engine.kind).toBe('simulated');
    expect(engine.choice).toEqual({ ...SIMULATED, prefixSharing: true });
    // The simulated engine's sequences at once are on the form, as WebLLM's.
    expect(engine.sequences).toBe(4);
    engine.sequences = 2;
    expect(engine.choice).toEqual({ ...SIMULATED, sequences: 2, prefixSharing: true });
    engine.sequences = null;
    engine.kind = 'webllm';
    // Sequences at once left empty: the plan chooses.
    expect(engine.choice).toEqual({
      kind: 'webllm',
      modelId: null,
      sequences: null,
      prefixSharing: true
    });
  });

  it('takes Sequences at once from 1 to 16, and has no choice while it is anything else', () => {
    const engine = draft();
    engine.kind = 'webllm';
    engine.sequences = 4;
    expect(engine.choice).toEqual({
      kind: 'webllm',
      modelId: null,
      sequences: 4,
      prefixSharing: true
    });
    for (const bad of [0, 17, 2.5]) {
      engine.sequences = bad;
      expect(engine.sequencesValid).toBe(false);
      expect(engine.choice).toBeNull();
    }
    engine.sequences = null;
    expect(engine.choice).toEqual({
      kind: 'webllm',
      modelId: null,
      sequences: null,
      prefixSharing: true
    });
  });

  it('shares the prompts’ common prefix unless the box is cleared or the address says prefixSharing=off', () => {
    const engine = draft();
    expect(engine.prefixSharing).toBe(true);
    engine.prefixSharing = false;
    expect(engine.choice).toMatchObject({ kind: 'simulated', prefixSharing: false });
    engine.kind = 'webllm';
    expect(engine.choice).toMatchObject({ kind: 'webllm', prefixSharing: false });
    address = { fromUrl: { ...SIMULATED, prefixSharing: false }, firstTokenMs: 1500, https: false };
    expect(draft().prefixSharing).toBe(false);
  });

  it('has no choice until the server has a URL, a model and a valid number in flight', () => {
    const engine = draft();
    engine.kind = 'server';
    expect(engine.choice).toBeNull();
    engine.serverUrl = 'http://localhost:8000/v1';
    expect(engine.parsed.ok).toBe(true);
    expect(engine.choice).toBeNull();
    engine.model = ' Qwen2.5-7B-Instruct ';
    expect(engine.choice).toEqual({
      kind: 'server',
      baseUrl: 'http://localhost:8000/v1',
      model: 'Qwen2.5-7B-Instruct',
      concurrency: DEFAULT_SERVER_CONCURRENCY,
      firstTokenMs: 1500
    });
    engine.concurrency = 65;
    expect(engine.concurrencyValid).toBe(false);
    expect(engine.choice).toBeNull();
  });

  it('fills an empty API key with the one saved for the server, and again when cleared', () => {
    io.serverKeys = { 'http://localhost:8000/v1': 'sk-saved' };
    const engine = draft();
    engine.kind = 'server';
    engine.serverUrl = 'http://localhost:8000/v1';
    expect(engine.apiKey).toBe('sk-saved');
    engine.apiKey = 'sk-typed';
    expect(engine.apiKey).toBe('sk-typed');
    engine.apiKey = '';
    expect(engine.apiKey).toBe('sk-saved');
    engine.apiKey = 'sk-typed';
    engine.serverUrl = 'http://localhost:8000/v1';
    expect(engine.apiKey).toBe('sk-typed');
  });

  it('connects: remembers the server, lists its models and picks the first', async () => {
    io.listServerModels.mockResolvedValue({ ok: true, name: 'vLLM', ids: ['a', 'b'] });
    const engine = draft();
    engine.kind = 'server';
    engine.serverUrl = 'http://localhost:8000/v1';
    engine.apiKey = 'sk-1';
    const connecting = engine.connect();
    expect(engine.connecting).toBe(true);
    await connecting;
    expect(io.rememberServer).toHaveBeenCalledWith('http://localhost:8000/v1', 'sk-1');
    expect(engine.models).toEqual(['a', 'b']);
    expect(engine.model).toBe('a');
    expect(engine.connected).toBe('Connected to vLLM: 2 models.');
    expect(engine.connecting).toBe(false);
  });

  it('keeps a model the server lists', async () => {
    io.listServerModels.mockResolvedValue({ ok: true, name: 'vLLM', ids: ['a', 'b'] });
    const engine = draft();
    engine.serverUrl = 'http://localhost:8000/v1';
    engine.model = 'b';
    await engine.connect();
    expect(engine.model).toBe('b');
  });

  it('says why it could not connect, and that the page may need its service worker', async () => {
    io.listServerModels.mockResolvedValue({ ok: false, message: 'The server did not answer.' });
    vi.stubGlobal('navigator', { serviceWorker: { controller: null } });
    const engine = draft();
    engine.serverUrl = 'http://localhost:8000/v1';
    await engine.connect();
    expect(engine.connectError).toMatch(
      /^The server did not answer\. \(This page is not served by LocalBatch's service worker yet/
    );
    expect(engine.connected).toBe('');
    vi.unstubAllGlobals();
  });
});
