import type { JobNeeds } from '$lib/gpu/types';

/** What the plan assumes before a file is chosen: a 3,000-token prompt and a 512-token answer. */
export const TYPICAL_NEEDS: JobNeeds = {
  longestPromptTokens: 3000,
  maxAnswerTokens: 512,
  exact: false
};
