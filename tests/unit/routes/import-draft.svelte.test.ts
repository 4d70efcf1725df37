import { flushSync } from 'svelte';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Estimates, ImportProgress, PreviewSummary } from '$lib/page/import-bridge';
import { RUBRICS, SCORE_ANSWER_TOKENS, scoreSchema } from '$lib/presets/score-pairs';
import type { LocalChoice } from '$lib/shared/engine-choice';
import { DEFAULT_SETTINGS, type JobNeeds } from '$lib/shared/job';
import { ImportDraft } from '../../../src/routes/import-draft.svelte';

/** A promise the test settles. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((yes, no) => {
    resolve = yes;
    reject = no;
  });
  return { promise, resolve, reject };
}

const bridge = vi.hoisted(() => ({
  openFile: vi.fn(),
  reparse: vi.fn(),
  estimate: vi.fn(),
  cancel: vi.fn(),
  createJob: vi.fn(),
  rememberServer: vi.fn()
}));

vi.mock('$lib/page/import-bridge', () => ({
  openFile: bridge.openFile,
  reparse: bridge.reparse,
  estimate: bridge.estimate,
  cancel: bridge.cancel
}));
vi.mock('$lib/page/create-job', () => ({
  createJob: bridge.createJob,
  rememberServer: bridge.rememberServer
}));
vi.mock('$lib/page/runner-bridge', () => ({ listServerModels: vi.fn() }));
vi.mock('$lib/page/settings.svelte', () => ({ settings: { current: {} } }));

const SIMULATED: LocalChoice = {
  kind: 'simulated',
  modelId: null,
  tokenDelayMs: 0,
  simMemoryMB: null,
  simHangAtItem: null
};
const NEEDS: JobNeeds = { longestPromptTokens: 40, maxAnswerTokens: 512, exact: false };

function preview(count: number, more: Partial<PreviewSummary> = {}): PreviewSummary {
  return {
    fileName: 'prompts.jsonl',
    format: 'jsonl',
    formatLabel: 'JSON lines',
    problems: [],
    fatal: false,
    columns: [],
    problemCount: 0,
    count,
    first: [],
    pairs: null,
    ...more
  };
}

const DATASET = preview(3, {
  format: 'sharegpt',
  formatLabel: 'ShareGPT dataset (question/answer pairs)',
  pairs: { count: 3, withImages: 0, language: 'zh' }
});

function file(name: string): File {
  return new File(['{}'], name);
}

let stop = () => {};

function draft(): ImportDraft {
  let made!: ImportDraft;
  stop = $effect.root(() => {
    made = new ImportDraft(() => ({ fromUrl: SIMULATED, firstTokenMs: 1500, https: false }));
  });
  return made;
}

/** A draft with a file open and its estimates in. */
async function opened(summary = preview(2)): Promise<ImportDraft> {
  bridge.openFile.mockResolvedValueOnce(summary);
  const made = draft();
  await made.useFile(file('prompts.jsonl'));
  flushSync();
  await vi.waitFor(() => expect(made.needs).toEqual(NEEDS));
  return made;
}

beforeEach(() => {
  for (const fn of Object.values(bridge)) fn.mockReset();
  bridge.cancel.mockResolvedValue(undefined);
  bridge.rememberServer.mockResolvedValue(undefined);
  bridge.estimate.mockResolvedValue({ needs: NEEDS, perPair: null } satisfies Estimates);
});
afterEach(() => stop());

describe('ImportDraft: a file and its preview', () => {
  it('a newer file drops the answer for the one before it, and its progress', async () => {
    const first = deferred<PreviewSummary>();
    const second = deferred<PreviewSummary>();
    bridge.openFile.mockReturnValueOnce(first.promise).mockReturnValueOnce(second.promise);
    const made = draft();
    const a = made.useFile(file('a.jsonl'));
    const firstPhase = bridge.openFile.mock.calls[0]?.[2] as ImportProgress;
    const b = made.useFile(file('b.jsonl'));
    const secondPhase = bridge.openFile.mock.calls[1]?.[2] as ImportProgress;
    secondPhase('reading', 0.5);
    firstPhase('parsing', null);
    expect(made.phase).toBe('reading');
    expect(made.fraction).toBe(0.5);
    second.resolve(preview(2, { fileName: 'b.jsonl' }));
    await b;
    first.resolve(preview(9, { fileName: 'a.jsonl' }));
    await a;
    expect(made.file?.name).toBe('b.jsonl');
    expect(made.preview?.fileName).toBe('b.jsonl');
    expect(made.phase).toBeNull();
    expect(made.name).toBe('b');
  });

  it('says when a file cannot be read', async () => {
    bridge.openFile.mockRejectedValueOnce(new Error('disk error'));
    const made = draft();
    await made.useFile(file('broken.jsonl'));
    expect(made.readError).toBe('broken.jsonl: the file could not be read (Error: disk error).');
    expect(made.preview).toBeNull();
    expect(made.phase).toBeNull();
  });

  it('says why a file that came from another app came, or that none did', async () => {
    bridge.openFile.mockResolvedValueOnce(preview(1));
    const made = draft();
    await made.useFile(file('shared.txt'), 'shared.txt was shared to LocalBatch.');
    expect(made.arrived).toBe('shared.txt was shared to LocalBatch.');
    made.notArrived('Nothing arrived from the share.');
    expect(made.readError).toBe('Nothing arrived from the share.');
  });

  it('a dataset of pairs: the preset is off, its rubric in the language of the pairs', async () => {
    const made = await opened(DATASET);
    expect(made.isDataset).toBe(true);
    expect(made.pairs).toEqual(DATASET.pairs);
    expect(made.presetId).toBe('');
    expect(made.language).toBe('zh');
    expect(made.rubric).toBe(RUBRICS.zh);
    expect(made.preset).toBeNull();
  });

  it('parses again with the CSV column or template; the newer answer wins', async () => {
    const made = await opened(preview(2, { format: 'csv', columns: ['q', 'a'] }));
    const older = deferred<PreviewSummary>();
    const newer = deferred<PreviewSummary>();
    bridge.reparse.mockReturnValueOnce(older.promise).mockReturnValueOnce(newer.promise);
    made.csvColumn = 'q';
    const first = made.reparse();
    made.csvTemplate = 'Q: {{q}}';
    const second = made.reparse();
    expect(bridge.reparse.mock.calls.map((call) => call[0])).toEqual([
      { promptColumn: 'q' },
      { template: 'Q: {{q}}' }
    ]);
    newer.resolve(preview(5, { format: 'csv' }));
    await second;
    older.resolve(preview(1, { format: 'csv' }));
    await first;
    expect(made.preview?.count).toBe(5);
  });

  it('Cancel stops the reading and leaves no file behind', async () => {
    const reading = deferred<PreviewSummary>();
    bridge.openFile.mockReturnValueOnce(reading.promise);
    const made = draft();
    const use = made.useFile(file('big.jsonl'));
    await made.cancel();
    expect(bridge.cancel).toHaveBeenCalledWith(null);
    reading.resolve(preview(100_000));
    await use;
    expect(made.file).toBeNull();
    expect(made.preview).toBeNull();
    expect(made.phase).toBeNull();
  });
});

describe('ImportDraft: estimates and settings', () => {
  it('estimates what the plan needs from the settings, not the name', async () => {
    const made = await opened();
    expect(bridge.estimate).toHaveBeenCalledTimes(1);
    expect(bridge.estimate.mock.calls[0]?.[0]).toEqual({
      systemPrompt: '',
      temperature: DEFAULT_SETTINGS.temperature,
      top_p: DEFAULT_SETTINGS.top_p,
      max_tokens: DEFAULT_SETTINGS.max_tokens,
      seed: 0,
      preset: null,
      answerSchema: null
    });
    expect(made.canCreate).toBe(true);
    made.name = 'Renamed';
    flushSync();
    expect(bridge.estimate).toHaveBeenCalledTimes(1);
  });

  it('a change of settings aborts the estimate under way', async () => {
    const made = await opened();
    const older = deferred<Estimates>();
    const newer = deferred<Estimates>();
    bridge.estimate.mockReturnValueOnce(older.promise).mockReturnValueOnce(newer.promise);
    made.maxTokens = 100;
    flushSync();
    made.maxTokens = 200;
    flushSync();
    const later: JobNeeds = { ...NEEDS, maxAnswerTokens: 200 };
    newer.resolve({ needs: later, perPair: null });
    await newer.promise;
    older.resolve({ needs: { ...NEEDS, maxAnswerTokens: 100 }, perPair: null });
    await older.promise;
    expect(made.needs).toEqual(later);
  });

  it('no estimate while the settings are not valid, and Create waits', async () => {
    const made = await opened(DATASET);
    made.presetId = 'score-pairs';
    made.rubric = ' ';
    flushSync();
    expect(made.presetValid).toBe(false);
    expect(made.needs).toBeNull();
    expect(made.canCreate).toBe(false);
    made.rubric = RUBRICS.en;
    made.temperature = 3;
    expect(made.fieldsValid).toBe(false);
    expect(made.canCreate).toBe(false);
  });

  it('the scoring preset brings its sampling and its schema; its rubric follows the language', async () => {
    const made = await opened(DATASET);
    made.schemaText = 'not json';
    expect(made.schemaProblem).toMatch(/not JSON/);
    made.presetId = 'score-pairs';
    made.choosePreset();
    expect(made.temperature).toBe(0);
    expect(made.maxTokens).toBe(SCORE_ANSWER_TOKENS);
    expect(made.schemaProblem).toBeNull();
    expect(made.sampling.answerSchema).toEqual(scoreSchema(1));
    made.language = 'en';
    made.chooseLanguage();
    expect(made.rubric).toBe(RUBRICS.en);
    expect(made.preset).toMatchObject({ id: 'score-pairs', language: 'en', pairsPerPrompt: 1 });
    made.presetId = '';
    made.choosePreset();
    expect(made.temperature).toBe(DEFAULT_SETTINGS.temperature);
    expect(made.maxTokens).toBe(DEFAULT_SETTINGS.max_tokens);
  });

  it('a preset needs a dataset of pairs', async () => {
    const made = await opened();
    made.presetId = 'score-pairs';
    expect(made.preset).toBeNull();
    expect(made.perPair).toBeNull();
  });

  it('an answer schema that is not JSON blocks Create', async () => {
    const made = await opened();
    made.schemaText = '{"type": ';
    expect(made.schemaProblem).toMatch(/^The answer schema is not JSON/);
    expect(made.canCreate).toBe(false);
    made.schemaText = '{"type": "object"}';
    flushSync();
    expect(made.sampling.answerSchema).toEqual({ type: 'object' });
  });
});

describe('ImportDraft: Create and Cancel', () => {
  it('stores the job with its settings and engine, then shows it', async () => {
    const made = await opened();
    made.name = '  ';
    bridge.createJob.mockImplementation(async (_job, started: (id: string) => void) => {
      started('job-1');
      return 'job-1';
    });
    const shown = vi.fn(async () => {});
    await made.create(shown);
    expect(bridge.createJob.mock.calls[0]?.[0]).toMatchObject({
      name: 'prompts.jsonl',
      sourceFileName: 'prompts.jsonl',
      format: 'jsonl',
      engine: SIMULATED
    });
    expect(shown).toHaveBeenCalledWith('job-1');
    expect(bridge.rememberServer).not.toHaveBeenCalled();
  });

  it('remembers a server and its key before the job is stored', async () => {
    const made = await opened();
    made.engine.kind = 'server';
    made.engine.serverUrl = 'http://localhost:8000/v1';
    made.engine.apiKey = 'sk-1';
    made.engine.model = 'm';
    bridge.createJob.mockResolvedValue('job-2');
    await made.create(async () => {});
    expect(bridge.rememberServer).toHaveBeenCalledWith('http://localhost:8000/v1', 'sk-1');
    expect(bridge.createJob.mock.calls[0]?.[0].engine).toMatchObject({
      kind: 'server',
      model: 'm'
    });
  });

  it('Cancel while storing removes the half-stored job and says nothing failed', async () => {
    const made = await opened();
    const storing = deferred<string>();
    bridge.createJob.mockImplementation((_job, started: (id: string) => void) => {
      started('job-3');
      return storing.promise;
    });
    const shown = vi.fn(async () => {});
    const creating = made.create(shown);
    await vi.waitFor(() => expect(bridge.createJob).toHaveBeenCalled());
    expect(made.canCreate).toBe(false);
    await made.cancel();
    expect(bridge.cancel).toHaveBeenCalledWith('job-3');
    storing.reject(new Error('worker terminated'));
    await creating;
    expect(made.createError).toBe('');
    expect(shown).not.toHaveBeenCalled();
    expect(made.preview).toBeNull();
  });

  it('says what happened when the job could not be stored, and Create can be tried again', async () => {
    const made = await opened();
    bridge.createJob.mockRejectedValue(new Error('QuotaExceededError'));
    await made.create(async () => {});
    expect(made.createError).toBe(
      'The job could not be stored (Error: QuotaExceededError). Nothing was changed; free some space or try again.'
    );
    expect(made.canCreate).toBe(true);
  });
});
