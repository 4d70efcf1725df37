/**
 * The engine a new job will run on, as the form fills it in: this GPU (WebLLM), the
 * simulated engine, or an OpenAI-compatible server with its URL, API key (kept in this
 * browser's settings only), model and requests in flight. `choice` is the engine, or
 * null while a server is not complete; EngineFields.svelte only shows it.
 */
import { rememberServer } from '$lib/page/create-job';
import { listServerModels } from '$lib/page/runner-bridge';
import { settings } from '$lib/page/settings.svelte';
import {
  DEFAULT_SERVER_CONCURRENCY,
  SIMULATED_TOKEN_DELAY_MS,
  parseServerUrl,
  parseSequences,
  type EngineChoice,
  type LocalChoice
} from '$lib/shared/engine-choice';

/** What the page's address says: the engine it asks for, its knobs, whether it is https. */
export interface EnginePage {
  fromUrl: LocalChoice;
  /** The server's first-token limit (a test knob, ?serverFirstTokenMs=). */
  firstTokenMs: number;
  https: boolean;
}

export type EngineKind = EngineChoice['kind'];

export class EngineDraft {
  readonly #page: () => EnginePage;
  kind = $state<EngineKind>('webllm');
  #serverUrl = $state('');
  #apiKey = $state('');
  model = $state('');
  concurrency = $state(DEFAULT_SERVER_CONCURRENCY);
  /** Sequences at once on this GPU, as the number field holds it (empty lets the plan choose). */
  sequences = $state<number | string | null>(null);
  /** Each sequence's KV slot keeps the prefix every prompt shares (on this GPU). */
  prefixSharing = $state(true);
  #models = $state.raw<string[]>([]);
  #connecting = $state(false);
  #connected = $state('');
  #connectError = $state('');

  readonly parsed = $derived(parseServerUrl(this.#serverUrl, this.#address.https));
  readonly concurrencyValid = $derived(
    Number.isInteger(this.concurrency) && this.concurrency >= 1 && this.concurrency <= 64
  );
  readonly #sequencesText = $derived(this.sequences === null ? '' : String(this.sequences).trim());
  readonly sequencesValid = $derived(
    this.#sequencesText === '' || parseSequences(this.#sequencesText) !== null
  );

  readonly choice: EngineChoice | null = $derived.by(() => {
    const { fromUrl, firstTokenMs } = this.#address;
    if (this.kind === 'webllm') {
      if (!this.sequencesValid) return null;
      return {
        kind: 'webllm',
        modelId: fromUrl.kind === 'webllm' ? fromUrl.modelId : null,
        sequences: parseSequences(this.#sequencesText),
        prefixSharing: this.prefixSharing
      };
    }
    if (this.kind === 'simulated') {
      if (!this.sequencesValid) return null;
      const sequences = parseSequences(this.#sequencesText);
      const { prefixSharing } = this;
      if (fromUrl.kind === 'simulated') return { ...fromUrl, sequences, prefixSharing };
      return {
        kind: 'simulated',
        modelId: null,
        tokenDelayMs: SIMULATED_TOKEN_DELAY_MS,
        simMemoryMB: null,
        simHangAtItem: null,
        sequences,
        prefixSharing
      };
    }
    return this.parsed.ok && this.model.trim() && this.concurrencyValid
      ? {
          kind: 'server',
          baseUrl: this.parsed.base,
          model: this.model.trim(),
          concurrency: this.concurrency,
          firstTokenMs
        }
      : null;
  });

  /** `page` is read whenever the choice is: pass a function over the page's state. */
  constructor(page: () => EnginePage) {
    this.#page = page;
    const { fromUrl } = page();
    this.kind = fromUrl.kind;
    this.sequences = fromUrl.sequences ?? null;
    this.prefixSharing = fromUrl.prefixSharing !== false;
  }

  get #address(): EnginePage {
    return this.#page();
  }

  get serverUrl(): string {
    return this.#serverUrl;
  }
  set serverUrl(value: string) {
    this.#serverUrl = value;
    this.#fillKey();
  }

  get apiKey(): string {
    return this.#apiKey;
  }
  set apiKey(value: string) {
    this.#apiKey = value;
    this.#fillKey();
  }

  /** The models the server listed when connected. */
  get models(): readonly string[] {
    return this.#models;
  }
  get connecting(): boolean {
    return this.#connecting;
  }
  /** "Connected to …: n models." once the server answered. */
  get connected(): string {
    return this.#connected;
  }
  get connectError(): string {
    return this.#connectError;
  }

  /** A key saved for this server fills an empty key field (and fills it again when cleared). */
  #fillKey() {
    if (this.parsed.ok && !this.#apiKey) {
      this.#apiKey = settings.current.serverKeys?.[this.parsed.base] ?? '';
    }
  }

  /** Remembers the server (its origin and key), then asks it for its models. */
  async connect(): Promise<void> {
    const parsed = this.parsed;
    if (!parsed.ok) return;
    this.#connecting = true;
    this.#connectError = '';
    this.#connected = '';
    try {
      await rememberServer(parsed.base, this.#apiKey);
      const answer = await listServerModels(parsed.base);
      if (!answer.ok) {
        this.#connectError = navigator.serviceWorker?.controller
          ? answer.message
          : `${answer.message} (This page is not served by LocalBatch's service worker yet, which lets it reach a server: reload the page and connect again.)`;
        return;
      }
      this.#models = answer.ids;
      if (!answer.ids.includes(this.model)) this.model = answer.ids[0] ?? '';
      this.#connected = `Connected to ${answer.name}: ${answer.ids.length === 1 ? '1 model' : `${answer.ids.length} models`}.`;
    } finally {
      this.#connecting = false;
    }
  }
}
