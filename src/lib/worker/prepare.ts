/**
 * Getting a job's engine ready: plan its memory on this machine (the window capped
 * after step-downs), load the engine with that plan (kept loaded between runs when
 * nothing changed), and, once per job, count every prompt with the model's own
 * tokenizer, growing the window when the exact counts need more, and find the prefix every
 * prompt begins with, which the engine reads as a chunk of its own and keeps in each
 * sequence's slot (prefix sharing). A server plans its own memory: it is only loaded. Load
 * errors are thrown; the run decides what they mean.
 */
import { sharesPrefix, withSequencesCap, type EngineChoice } from '$lib/shared/engine-choice';
import { SharedPrefix, prefixWords } from '$lib/plan/kv-cache';
import type {
  ItemInput,
  JobMeta,
  JobNeeds,
  JobProgress,
  PlanRecord,
  RunLogEntry
} from '$lib/shared/job';
import type { PlannedMemory } from '$lib/plan/types';
import type { GenerateRequest } from '$lib/shared/request';
import { formatCount } from '$lib/shared/figures';
import { requestFor, sharedPromptFor, skipReason } from '$lib/presets';
import type { Engine, EngineInfo, LoadPlan } from './engine/types';
import type { Emit, RunnerDeps } from './run-types';
import type { Ready } from './unit';

/** Inputs read at a time when the tokenizer counts a whole job. */
const COUNT_CHUNK = 2000;

export function planRecord(plan: PlannedMemory): PlanRecord {
  return {
    modelId: plan.model.id,
    contextWindow: plan.contextWindow,
    sequences: plan.sequences,
    kvBytes: plan.kvBytes,
    totalBytes: plan.totalBytes,
    maxPromptTokens: plan.maxPromptTokens
  };
}

function loadPlan(plan: PlannedMemory): LoadPlan {
  return {
    modelId: plan.model.id,
    contextWindow: plan.contextWindow,
    weightsBytes: plan.weightsBytes,
    activationBytes: plan.activationBytes,
    kvBytes: plan.kvBytes,
    totalBytes: plan.totalBytes,
    sequences: plan.sequences
  };
}

/**
 * The loaded engine, kept between runs of one runner: a job resumed with the
 * same engine choice and plan does not load the model again.
 */
export class EngineSlot {
  #current: { key: string; engine: Engine; info: EngineInfo } | null = null;

  constructor(private readonly create: (choice: EngineChoice) => Engine) {}

  /** The model the loaded engine reports, or null. */
  get model(): string | null {
    return this.#current?.info.model ?? null;
  }

  async load(choice: EngineChoice, plan: PlannedMemory | null, emit: Emit): Promise<Engine> {
    // Prefix sharing is set at every run (usePrefix), not at load: it needs no other engine.
    const loaded = choice.kind === 'server' ? choice : { ...choice, prefixSharing: undefined };
    const key = JSON.stringify([loaded, plan?.model.id, plan?.contextWindow, plan?.sequences]);
    if (this.#current?.key === key) return this.#current.engine;
    await this.drop();
    const engine = this.create(choice);
    try {
      const info = await engine.load(plan && loadPlan(plan), (progress) =>
        emit({ type: 'load', progress })
      );
      this.#current = { key, engine, info };
      emit({ type: 'engine', info });
      return engine;
    } catch (error) {
      // eslint-disable-next-line no-restricted-syntax -- the load failed already: that error is thrown below, not the cleanup's
      await engine.unload().catch(() => undefined);
      throw error;
    }
  }

  async drop(): Promise<void> {
    const current = this.#current;
    this.#current = null;
    // eslint-disable-next-line no-restricted-syntax -- an engine that lost its device cannot unload cleanly; it is dropped all the same
    await current?.engine.unload().catch(() => undefined);
  }
}

/** What preparing needs from the run. */
export interface PrepareHost {
  readonly deps: Pick<RunnerDeps, 'plan' | 'store'>;
  readonly slot: EngineSlot;
  readonly emit: Emit;
  /** The run records the plan it runs with (in its progress, for the page). */
  usePlan(plan: PlannedMemory): void;
  /** The job's exact needs, once counted and saved. */
  useNeeds(needs: JobNeeds): void;
  log(entry: Omit<RunLogEntry, 'at'>): Promise<void>;
}

export type Prepared =
  | { ready: Ready }
  /** Nothing fits on this machine: the plan's own words. */
  | { refusal: string };

/** Plans, loads and (once per job) counts. Throws what loading threw. */
export async function prepareEngine(
  host: PrepareHost,
  asked: JobMeta,
  caps: Pick<JobProgress, 'windowCap' | 'sequencesCap'>
): Promise<Prepared> {
  // After memory losses the job runs with fewer sequences at once, then a smaller window.
  const job = withSequencesCap(asked, caps.sequencesCap);
  const { windowCap } = caps;
  if (job.engine.kind === 'server') {
    // A server plans its own memory: nothing to plan or count here.
    const engine = await host.slot.load(job.engine, null, host.emit);
    return { ready: { engine, plan: null } };
  }
  const planned = await host.deps.plan(job, windowCap);
  if (!planned.ok) return { refusal: planned.refusal };
  host.usePlan(planned);
  const engine = await host.slot.load(job.engine, planned, host.emit);
  const tokenizer = engine.tokenizer();
  // A job counted before prefixes were found (no prefixTokens) is counted again, once.
  if (!tokenizer || (job.needs.exact && job.needs.prefixTokens !== undefined)) {
    usePrefix(engine, job, job.needs);
    return { ready: { engine, plan: planned } };
  }

  const needs = await countExactly(host, job, tokenizer);
  host.useNeeds(needs);
  const exact = await host.deps.plan({ ...job, needs }, windowCap);
  // A window larger than the counts need is kept (it loaded, and a reload costs minutes
  // on a real GPU); one too small for them is grown when the GPU has room.
  const grown =
    exact.ok && exact.model.id === planned.model.id && exact.contextWindow > planned.contextWindow
      ? exact
      : null;
  let message = `Counted the prompts with the model's tokenizer: the longest needs ${formatCount(needs.longestPromptTokens)} tokens (estimated ${formatCount(job.needs.longestPromptTokens)})`;
  if (grown) {
    message += `; context ${planned.contextWindow} → ${grown.contextWindow}`;
    host.usePlan(grown);
  }
  await host.log({ index: null, kind: 'tokens', message });
  const prefix = prefixWords(needs.prefixTokens ?? 0, sharesPrefix(job.engine));
  if (prefix) await host.log({ index: null, kind: 'tokens', message: prefix });
  const ready = grown ? await host.slot.load(job.engine, grown, host.emit) : engine;
  usePrefix(ready, job, needs);
  return { ready: { engine: ready, plan: grown ?? planned } };
}

/** Tells the engine the job's shared prefix (every run: a loaded engine may have run another job). */
function usePrefix(engine: Engine, job: JobMeta, needs: JobNeeds): void {
  engine.usePrefix?.({ tokens: needs.prefixTokens ?? 0, share: sharesPrefix(job.engine) });
}

/**
 * Counts every prompt with the loaded tokenizer (and, where items share a prompt,
 * every shared prompt), finds the prefix they all begin with, and saves the counts as the
 * job's exact needs.
 */
async function countExactly(
  host: PrepareHost,
  job: JobMeta,
  tokenizer: (request: GenerateRequest) => readonly number[]
): Promise<JobNeeds> {
  const { store } = host.deps;
  const { settings } = job;
  const shared = sharedPromptFor(settings);
  const counts: number[] = [];
  const prefix = new SharedPrefix();
  const count = (request: GenerateRequest) => {
    const ids = tokenizer(request);
    prefix.add(ids);
    return ids.length;
  };
  let longestPromptTokens = 0;
  // Shared prompts are counted as index-aligned runs of `size` items.
  let batch: ItemInput[] = [];
  const countBatch = () => {
    if (shared && batch.length > 0) {
      longestPromptTokens = Math.max(longestPromptTokens, count(shared.request(batch)));
    }
    batch = [];
  };
  for (let from = 0; from < job.total; from += COUNT_CHUNK) {
    const inputs = await store.getInputs(job.id, from, from + COUNT_CHUNK);
    for (const input of inputs) {
      const tokens = count(requestFor(settings, [input]));
      counts.push(tokens);
      if (tokens > longestPromptTokens) longestPromptTokens = tokens;
      if (!shared) continue;
      if (input.index % shared.size === 0) countBatch();
      if (skipReason(settings, input) === null) batch.push(input);
    }
  }
  countBatch();
  const needs: JobNeeds = {
    ...job.needs,
    longestPromptTokens,
    exact: true,
    prefixTokens: prefix.tokens
  };
  await store.saveExactCounts(job.id, needs, counts);
  return needs;
}
