/**
 * Sequences at once on this GPU: how many prompts the step loop decodes in one pass.
 * The user's number where they gave one (fewer where a layer's KV cache would not bind:
 * memory.ts says so); otherwise the plan's: the most of 8, 4 and 2 whose KV caches fit beside
 * the model, and each layer's in one buffer binding, with the same context window one sequence
 * would get, and one at a time when the GPU's memory is unknown. Pure.
 *
 * Never above 8 by default, and this is the one place that says why: the model libraries'
 * batch kernels (`batch_decode`'s matrix-vector products) reduce each row the same way for 1
 * to 8 rows and switch to a matrix-matrix kernel above 8, so up to 8 a row's logits, and a
 * greedy answer, do not depend on what else is in the batch: a batched answer is token for
 * token the answer the same prompt gets alone (npm run test:real checks it at 2 and 4).
 */
import { formatCount } from '$lib/shared/figures';
import type { Plan } from './types';

/** The largest default, and the candidates the plan tries, largest first. */
const DEFAULT_SEQUENCE_CHOICES = [8, 4, 2] as const;

export function chooseSequences(
  requested: number | null,
  planAt: (sequences: number) => Plan
): Plan {
  if (requested !== null) {
    const plan = planAt(requested);
    // A plan with fewer than asked says why itself (a layer's KV cache that would not bind).
    if (!plan.ok || requested === 1 || plan.sequences !== requested) return plan;
    return withReason(plan, `${formatCount(requested)} sequences at once, as the job asks.`);
  }
  const single = planAt(1);
  if (!single.ok) return single;
  if (single.budgetBytes === null)
    return withReason(
      single,
      "One sequence at a time: this GPU's memory is unknown, and several at once need a KV cache each (say how much memory it has, or choose Sequences at once)."
    );
  for (const sequences of DEFAULT_SEQUENCE_CHOICES) {
    const plan = planAt(sequences);
    if (plan.ok && plan.sequences === sequences && plan.contextWindow >= single.contextWindow)
      return withReason(
        plan,
        `${formatCount(sequences)} sequences at once: the most of ${DEFAULT_SEQUENCE_CHOICES.join(', ')} whose KV caches fit with the same context window, in memory and each layer's in one buffer binding (above 8 the batch kernels no longer give every prompt the answer it gets alone).`
      );
  }
  return withReason(
    single,
    'One sequence at a time: a second KV cache does not fit beside the model with this context window.'
  );
}

function withReason(plan: Plan, reason: string): Plan {
  return { ...plan, reasons: [...plan.reasons, reason] };
}
