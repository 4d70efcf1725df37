/**
 * JSON input: JSON lines (one object per line, plain or OpenAI batch requests) and a
 * JSON array of the same objects.
 */
import type { ParsedItem } from '$lib/shared/job';
import { errorReason, forEachJsonLine, looksLikeOneObject } from './json';
import { IdRegistry, MAX_IMPORT_ITEMS, ProblemList, noneReadable, tooManyItems } from './problems';
import { readObjectItem } from './prompt-object';
import { countNonBlankLines } from './text-file';
import type { FormatMeta, ParseResult } from './types';

export const jsonlFormat: FormatMeta = {
  id: 'jsonl',
  label: 'JSON lines',
  mimeType: 'application/jsonl',
  extension: 'jsonl'
};

export const openaiBatchInputFormat: FormatMeta = {
  id: 'openai-batch',
  label: 'OpenAI batch input',
  mimeType: 'application/jsonl',
  extension: 'jsonl'
};

export const jsonArrayFormat: FormatMeta = {
  id: 'json',
  label: 'JSON array',
  mimeType: 'application/json',
  extension: 'json'
};

function result(
  items: ParsedItem[],
  problems: ProblemList,
  fatal: string | null,
  allBatch: boolean,
  array: boolean
): ParseResult {
  const batch = allBatch && items.length > 0;
  const meta = batch ? openaiBatchInputFormat : array ? jsonArrayFormat : jsonlFormat;
  return {
    format: batch ? 'openai-batch' : 'jsonl',
    formatLabel: batch && array ? `${meta.label} (JSON array)` : meta.label,
    items,
    problems,
    fatal,
    columns: []
  };
}

/** One JSON object per line; blank lines are skipped, "\r\n" works. */
export function parseJsonLines(text: string): ParseResult {
  const problems = new ProblemList('line');
  const items: ParsedItem[] = [];
  const total = countNonBlankLines(text);
  if (total > MAX_IMPORT_ITEMS) {
    return result(items, problems, tooManyItems(total, 'line'), false, false);
  }
  const ids = new IdRegistry('line');
  let allBatch = true;
  forEachJsonLine(text, problems, (value, n) => {
    const read = readObjectItem(value, n, `line-${n}`, 'line');
    if (!read.ok) {
      problems.add(n, read.message);
      return;
    }
    const duplicate = ids.claim(read.value.item.customId, n);
    if (duplicate !== null) {
      problems.add(n, duplicate);
      return;
    }
    if (!read.value.batch) allBatch = false;
    items.push(read.value.item);
  });

  let fatal: string | null = null;
  if (items.length === 0) {
    // One file-level reason explains every line's problem, so those are dropped.
    const trimmed = text.trimStart();
    if (!trimmed.startsWith('{')) {
      fatal =
        'this does not look like JSON lines: each line should be a JSON object such as {"prompt": "..."}';
      problems.clear();
    } else if (looksLikeOneObject(trimmed)) {
      fatal =
        'the file holds one JSON object spread over several lines: write one object per line, or make the file a JSON array of objects';
      problems.clear();
    } else {
      fatal = noneReadable(problems.count, 'line');
    }
  }
  return result(items, problems, fatal, allBatch, false);
}

/** A JSON array of objects; problems name the 1-based element ("item 3"). */
export function parseJsonArray(text: string): ParseResult {
  const problems = new ProblemList('item');
  const items: ParsedItem[] = [];
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return result(
      items,
      problems,
      `the file is not valid JSON (${errorReason(e, text, false)}): fix it, or save one JSON object per line as .jsonl`,
      false,
      true
    );
  }
  if (!Array.isArray(value)) {
    return result(
      items,
      problems,
      'the file is not a JSON array of objects: make it [{"prompt": "..."}, ...] or write one object per line as .jsonl',
      false,
      true
    );
  }
  if (value.length === 0) {
    return result(
      items,
      problems,
      'the file holds an empty JSON array: add at least one prompt object',
      false,
      true
    );
  }
  if (value.length > MAX_IMPORT_ITEMS) {
    return result(items, problems, tooManyItems(value.length, 'item'), false, true);
  }
  const ids = new IdRegistry('item');
  let allBatch = true;
  for (let i = 0; i < value.length; i++) {
    const n = i + 1;
    const read = readObjectItem(value[i], n, `item-${n}`, 'item');
    if (!read.ok) {
      problems.add(n, read.message);
      continue;
    }
    const duplicate = ids.claim(read.value.item.customId, n);
    if (duplicate !== null) {
      problems.add(n, duplicate);
      continue;
    }
    if (!read.value.batch) allBatch = false;
    items.push(read.value.item);
  }
  const fatal = items.length === 0 ? noneReadable(problems.count, 'item') : null;
  return result(items, problems, fatal, allBatch, true);
}
