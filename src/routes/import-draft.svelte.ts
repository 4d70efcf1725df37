/**
 * A new job before it is created: the file and its preview (read and checked in the
 * import worker), the engine, the preset and the job's settings, the token estimates the
 * memory plan needs, and Create and Cancel. The form's components only show it.
 *
 * Answers come back from the import worker while the user goes on: each question (a file
 * opened, parsed again, a job stored) carries the AbortSignal of the draft's one
 * AbortController, which a newer file, a reparse or Cancel aborts; an answer whose signal
 * was aborted is dropped. An estimate is aborted the same way when what it depends on changes.
 */
import {
  cancel as cancelImport,
  estimate,
  openFile,
  reparse as reparseFile,
  type Estimates,
  type ImportPhase,
  type PreviewSummary
} from '$lib/page/import-bridge';
import { createJob, rememberServer } from '$lib/page/create-job';
import { scoreSchema } from '$lib/presets/score-pairs';
import { DEFAULT_SETTINGS, type JobNeeds, type JobSettings } from '$lib/shared/job';
import { samplingValid } from '$lib/shared/sampling';
import { EngineDraft, type EnginePage } from './engine-draft.svelte';
import {
  csvOptions,
  freshPreset,
  jobName,
  presetFieldsValid,
  presetSampling,
  presetSettings,
  readAnswerSchema,
  rubricFor,
  type PresetId,
  type RubricLanguage
} from './import-rules';

export class ImportDraft {
  readonly engine: EngineDraft;

  #file = $state.raw<File | null>(null);
  #preview = $state.raw<PreviewSummary | null>(null);
  /** What the import worker is doing now, for the progress line; null when idle. */
  #phase = $state<ImportPhase | null>(null);
  /** How far the phase is (0..1), when the worker knows. */
  #fraction = $state<number | null>(null);
  #estimates = $state.raw<Estimates | null>(null);
  #readError = $state('');
  #createError = $state('');
  #creating = $state(false);
  /** Why a file came from another app (shared to LocalBatch, or opened with it). */
  #arrived = $state('');
  /** The current question to the import worker; a newer one or Cancel aborts it. */
  #ask = new AbortController();
  /** The job being stored, so Cancel can remove it. */
  #storing: string | null = null;

  // The form's fields, bound by its components.
  csvColumn = $state('');
  csvTemplate = $state('');
  name = $state('');
  systemPrompt = $state(DEFAULT_SETTINGS.systemPrompt);
  temperature = $state(DEFAULT_SETTINGS.temperature);
  topP = $state(DEFAULT_SETTINGS.top_p);
  maxTokens = $state(DEFAULT_SETTINGS.max_tokens);
  seed = $state(DEFAULT_SETTINGS.seed);
  /** An answer schema of the user's own (a preset brings its own). */
  schemaText = $state('');
  // The preset "Score chat pairs (WeClone)", for a dataset of pairs.
  presetId = $state<PresetId>('');
  language = $state<RubricLanguage>('en');
  rubric = $state(freshPreset().rubric);
  pairsPerPrompt = $state(1);

  readonly isDataset = $derived(
    this.#preview?.format === 'sharegpt' || this.#preview?.format === 'alpaca'
  );
  readonly pairs = $derived(this.isDataset ? (this.#preview?.pairs ?? null) : null);
  readonly preset = $derived(
    presetSettings(
      {
        id: this.presetId,
        language: this.language,
        rubric: this.rubric,
        pairsPerPrompt: this.pairsPerPrompt
      },
      this.isDataset
    )
  );
  readonly presetValid = $derived(!this.preset || presetFieldsValid(this.preset));
  readonly fieldsValid = $derived(
    samplingValid({
      temperature: this.temperature,
      top_p: this.topP,
      max_tokens: this.maxTokens,
      seed: this.seed
    })
  );
  readonly #ownSchema = $derived(readAnswerSchema(this.schemaText));
  readonly schemaProblem = $derived(this.preset ? null : this.#ownSchema.problem);
  /** Everything but the name: what the prompts and their estimates depend on. */
  readonly sampling: Omit<JobSettings, 'name'> = $derived({
    systemPrompt: this.systemPrompt,
    temperature: this.temperature,
    top_p: this.topP,
    max_tokens: this.maxTokens,
    seed: this.seed,
    preset: this.preset,
    answerSchema: this.preset ? scoreSchema(1) : this.#ownSchema.schema
  });
  readonly settings: JobSettings = $derived({
    name: this.name.trim() || (this.#file?.name ?? ''),
    ...this.sampling
  });
  /** The job's token needs, for the memory plan, once estimated. */
  readonly needs: JobNeeds | null = $derived(
    this.#preview?.count && this.#estimates ? this.#estimates.needs : null
  );
  /** A scoring job's prompt tokens per pair, alone and batched. */
  readonly perPair = $derived(this.preset ? (this.#estimates?.perPair ?? null) : null);

  /**
   * Create it while a component initializes (it estimates in an effect). `page` is read
   * whenever the engine choice is: pass a function over the page's state.
   */
  constructor(page: () => EnginePage) {
    this.engine = new EngineDraft(page);
    $effect(() => this.#estimate());
  }

  get canCreate(): boolean {
    return (
      !!this.#preview &&
      !this.#preview.fatal &&
      this.#preview.count > 0 &&
      !!this.#estimates &&
      this.fieldsValid &&
      this.presetValid &&
      !this.schemaProblem &&
      !!this.engine.choice &&
      !this.#creating
    );
  }

  get file(): File | null {
    return this.#file;
  }
  get preview(): PreviewSummary | null {
    return this.#preview;
  }
  get phase(): ImportPhase | null {
    return this.#phase;
  }
  get fraction(): number | null {
    return this.#fraction;
  }
  get readError(): string {
    return this.#readError;
  }
  get createError(): string {
    return this.#createError;
  }
  get arrived(): string {
    return this.#arrived;
  }

  /**
   * Token needs, estimated (in the import worker, which holds the items) before any
   * tokenizer is loaded: the memory plan sizes the window by them. Runs in an effect, so
   * only what changes them is read (not the job's name), and a change aborts the last one.
   */
  #estimate() {
    if (!this.#preview?.count || !this.presetValid) {
      this.#estimates = null;
      return;
    }
    const stale = new AbortController();
    // eslint-disable-next-line @typescript-eslint/no-floating-promises -- estimates are advice: a failed one leaves the last shown
    void estimate($state.snapshot(this.sampling)).then((next) => {
      if (!stale.signal.aborted) this.#estimates = next;
    });
    return () => stale.abort();
  }

  /** A new question to the import worker; the one before it is dropped. */
  #newAsk(): AbortSignal {
    this.#ask.abort();
    this.#ask = new AbortController();
    return this.#ask.signal;
  }

  #onPhase(signal: AbortSignal) {
    return (next: ImportPhase, done: number | null) => {
      if (signal.aborted) return;
      this.#phase = next;
      this.#fraction = done;
    };
  }

  /** Opens a file (null: none), or one that came from another app with why it came. */
  async useFile(chosen: File | null, arrived = ''): Promise<void> {
    this.#arrived = arrived;
    this.#readError = '';
    this.#createError = '';
    this.#preview = null;
    this.#estimates = null;
    this.#file = chosen;
    this.csvColumn = '';
    this.csvTemplate = '';
    const signal = this.#newAsk();
    if (!chosen) return;
    let next: PreviewSummary;
    try {
      next = await openFile(chosen, {}, this.#onPhase(signal));
      if (signal.aborted) return;
      this.#preview = next;
    } catch (error) {
      if (signal.aborted) return;
      this.#readError = `${chosen.name}: the file could not be read (${String(error)}).`;
      return;
    } finally {
      if (!signal.aborted) this.#phase = null;
    }
    this.name = jobName(chosen.name);
    const fresh = freshPreset(next.pairs?.language);
    this.presetId = fresh.id;
    this.language = fresh.language;
    this.rubric = fresh.rubric;
    this.pairsPerPrompt = fresh.pairsPerPrompt;
  }

  /** A file that was to come from another app did not arrive. */
  notArrived(message: string) {
    this.#readError = message;
  }

  /** Parses the open file again, with the CSV column or template now chosen. */
  async reparse(): Promise<void> {
    if (!this.#file) return;
    const signal = this.#newAsk();
    const next = await reparseFile(
      csvOptions(this.csvColumn, this.csvTemplate),
      this.#onPhase(signal)
    );
    if (signal.aborted) return;
    this.#preview = next;
    this.#phase = null;
  }

  /** Picking a preset (or none) brings its sampling. */
  choosePreset() {
    const sampling = presetSampling(this.presetId);
    this.temperature = sampling.temperature;
    this.maxTokens = sampling.max_tokens;
  }

  chooseLanguage() {
    this.rubric = rubricFor(this.language, this.rubric);
  }

  /** Stops whatever the import does (reading, checking, storing) and leaves nothing behind. */
  async cancel(): Promise<void> {
    this.#ask.abort();
    const job = this.#storing;
    this.#storing = null;
    // The worker is stopped and a half-stored job removed before the form says it is over.
    await cancelImport(job);
    this.#file = null;
    this.#preview = null;
    this.#estimates = null;
    this.#phase = null;
    this.#readError = '';
    this.#createError = '';
    this.#creating = false;
  }

  /** Stores the job (remembering its server first), then `opened` shows it. */
  async create(opened: (id: string) => Promise<void>): Promise<void> {
    const file = this.#file;
    const preview = this.#preview;
    const engine = this.engine.choice;
    if (!preview || !file || !engine || !this.canCreate) return;
    this.#creating = true;
    this.#createError = '';
    const signal = this.#ask.signal;
    try {
      if (engine.kind === 'server') await rememberServer(engine.baseUrl, this.engine.apiKey);
      const id = await createJob(
        {
          name: this.settings.name,
          sourceFileName: file.name,
          format: preview.format ?? 'txt',
          settings: $state.snapshot(this.settings),
          engine: $state.snapshot(engine)
        },
        (started) => (this.#storing = started),
        this.#onPhase(signal)
      );
      this.#storing = null;
      await opened(id);
    } catch (error) {
      if (signal.aborted) return; // cancelled
      this.#createError = `The job could not be stored (${String(error)}). Nothing was changed; free some space or try again.`;
    } finally {
      if (!signal.aborted) {
        this.#creating = false;
        this.#phase = null;
      }
    }
  }
}
