/**
 * The request for an item, or for a batch of pairs that share one prompt: the
 * job's preset builds it where the job has one, else the item's own messages.
 */
import type { JobSettings, ParsedItem } from '$lib/shared/job';
import { buildRequest, type GenerateRequest } from '$lib/shared/request';
import { answerTokens, scoreSchema, scoringPrompt } from './score-pairs';

type Settings = Omit<JobSettings, 'name'>;
type Item = Pick<ParsedItem, 'customId' | 'messages' | 'params' | 'pair'>;

/** The request for `items` (one, or several pairs of a scoring job that share a prompt). */
export function requestFor(settings: Settings, items: readonly Item[]): GenerateRequest {
  const preset = settings.preset;
  const first = items[0];
  if (!first) throw new Error('A request needs at least one item.');
  if (!preset) return buildRequest({ settings }, first);
  const pairs = items.map((item) => ({
    id: item.customId,
    turns: item.pair?.turns ?? item.messages.filter((m) => m.role !== 'system')
  }));
  const content = scoringPrompt(preset, pairs);
  return {
    messages: settings.systemPrompt.trim()
      ? [
          { role: 'system', content: settings.systemPrompt },
          { role: 'user', content }
        ]
      : [{ role: 'user', content }],
    temperature: settings.temperature,
    top_p: settings.top_p,
    max_tokens: answerTokens(settings, items.length),
    seed: settings.seed,
    schema: scoreSchema(items.length)
  };
}

/** Why an item is not sent at all, or null: a scoring job does not score pairs with images. */
export function skipReason(settings: Settings, item: Pick<ParsedItem, 'pair'>): string | null {
  return settings.preset?.id === 'score-pairs' && item.pair?.hasImages
    ? 'The pair has images: it is not scored (WeClone keeps such pairs).'
    : null;
}
