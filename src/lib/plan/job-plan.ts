/**
 * The memory plan of one job on this machine: the same inputs on the page
 * (the panel, "Check this GPU") and in the worker (before each run).
 */
import { askedSequences, sharesPrefix, type LocalChoice } from '$lib/shared/engine-choice';
import type { JobNeeds } from '$lib/shared/job';
import type { MachineSettings } from '$lib/shared/settings';
import { DEFAULT_FAMILY, MODELS, modelById } from './catalog';
import { budgetFor, usableBytes } from './budget';
import { prefixWords } from './kv-cache';
import { withLibraryFigures } from './library-figures';
import type { LibraryMetadata } from './library-metadata';
import { planMemory } from './memory';
import { chooseSequences } from './sequences';
import type { AdapterFacts, ModelSpec, Plan } from './types';

/** A model library's own metadata, read before the download (models/model-library.ts). */
export interface ModelLibrary {
  modelId: string;
  libFile: string;
  meta: LibraryMetadata;
}

export interface JobPlanning {
  plan: Plan;
  /** Something the user should know about this plan beyond its reasons. */
  note: string | null;
  /**
   * What this GPU may use, margin kept, as every page reads it (the memory setting, or the
   * adapter's estimate), whichever engine the job has; null when unknown. A simulated job
   * without simMemoryMB is not held to it (its plan's budget is unknown), but the GPU's
   * reading stays the same.
   */
  gpuBytes: number | null;
}

/** What the plan assumes before a file is chosen: a 3,000-token prompt and a 512-token answer. */
export const TYPICAL_NEEDS: JobNeeds = {
  longestPromptTokens: 3000,
  maxAnswerTokens: 512,
  exact: false
};

const UNCAPPED_SIMULATION =
  'The simulated engine allocates no model memory (add simMemoryMB to the page address to make it act as a GPU of that size), so the GPU size is taken as unknown.';

export function planJob(
  facts: AdapterFacts,
  job: { needs: JobNeeds; engine: LocalChoice },
  settings: MachineSettings,
  windowCap: number | null,
  library: ModelLibrary | null = null
): JobPlanning {
  const chosen = job.engine.modelId ? modelById(job.engine.modelId) : undefined;
  const uncapped = job.engine.kind === 'simulated' && job.engine.simMemoryMB === null;
  const requested = askedSequences(job.engine);
  const planAt = (models: ModelSpec[], sequences: number) =>
    planMemory({
      sequences,
      adapter: facts,
      models,
      family: chosen?.family ?? DEFAULT_FAMILY,
      needs: job.needs,
      budget: {
        userMB: settings.gpuMemoryMB,
        ...(uncapped ? { unknownReason: UNCAPPED_SIMULATION } : {})
      },
      safetyMargin: settings.safetyMargin,
      ...(windowCap !== null ? { maxWindow: windowCap } : {})
    });
  const planWith = (models: ModelSpec[]) =>
    chooseSequences(requested, (sequences) => planAt(models, sequences));
  let plan = planWith(MODELS);
  // The library of the model the catalog's figures chose: its own figures decide.
  const spec = library && MODELS.find((model) => model.id === library.modelId);
  if (library && spec && (!plan.ok || plan.model.id === spec.id)) {
    const figures = withLibraryFigures(spec, library.meta, library.libFile);
    if ('mismatch' in figures) {
      plan = { ...plan, reasons: [figures.mismatch, ...plan.reasons] };
    } else {
      const replanned = planWith(
        MODELS.map((model) => (model.id === spec.id ? figures.spec : model))
      );
      plan = { ...replanned, reasons: [figures.reason, ...replanned.reasons] };
    }
  }
  // The prefix the counted prompts share (KV memory unchanged: it stays in each slot).
  const prefix = prefixWords(job.needs.prefixTokens ?? 0, sharesPrefix(job.engine));
  if (plan.ok && prefix) plan = { ...plan, reasons: [...plan.reasons, `${prefix}.`] };
  const note =
    job.engine.kind === 'simulated'
      ? 'This job runs on the simulated engine: the plan is real, the answers are placeholder text.'
      : null;
  const gpuBytes = usableBytes(
    budgetFor(facts, { userMB: settings.gpuMemoryMB }).bytes,
    settings.safetyMargin
  );
  return { plan, note, gpuBytes };
}
