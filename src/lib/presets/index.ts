/**
 * The request for an item, or for a batch of pairs that share one prompt: the
 * job's preset builds it where the job has one, else the item's own messages.
 */
import type { JobSettings, ParsedItem } from '$lib/shared/job';
import { buildRequest, type GenerateRequest } from '$lib/shared/request';
import { scorePairsPrompt, scoringRequest } from './score-pairs';
import type { PromptItem, SharedPrompt } from './shared-prompt';

type Settings = Omit<JobSettings, 'name'>;

/** The request for `items` (one, or several pairs of a scoring job that share a prompt). */
export function requestFor(settings: Settings, items: readonly PromptItem[]): GenerateRequest {
  const { preset } = settings;
  const first = items[0];
  if (!first) throw new Error('A request needs at least one item.');
  return preset
    ? scoringRequest({ ...settings, preset }, items)
    : buildRequest({ settings }, first);
}

/** How the job's items share a prompt, or null when each item has its own. */
export function sharedPromptFor(settings: Settings): SharedPrompt | null {
  const { preset } = settings;
  return preset ? scorePairsPrompt({ ...settings, preset }) : null;
}

/** Why an item is not sent at all, or null: a scoring job does not score pairs with images. */
export function skipReason(settings: Settings, item: Pick<ParsedItem, 'pair'>): string | null {
  return settings.preset?.id === 'score-pairs' && item.pair?.hasImages
    ? 'The pair has images: it is not scored (WeClone keeps such pairs).'
    : null;
}
