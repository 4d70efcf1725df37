/**
 * LLaMA-Factory's `dataset_info.json`: entries that register the exported datasets, so
 * the files drop into LLaMA-Factory's `data/` or WeClone's `dataset/res_csv/sft/` with
 * it. A scoring job gets WeClone's own entry names (`chat-sft`, `chat-sft-cleaned`, and
 * `-vl` with images), which WeClone's settings use by default, and the same under the
 * job's name; every job gets its ShareGPT and Alpaca exports.
 */
import { alpacaOutput, sharegptOutput } from './dataset';
import { exportFileName, jobSlug } from './file-name';
import type { ExportJob, Exporter } from './types';
import { exporter } from './writer';
import { wecloneCleaned, wecloneScored } from './weclone';

/** WeClone's ShareGPT entry (its dataset/res_csv/sft/dataset_info.json). */
function wecloneEntry(fileName: string, images: boolean) {
  return {
    file_name: fileName,
    formatting: 'sharegpt',
    columns: { messages: 'messages', system: 'system', ...(images ? { images: 'images' } : {}) },
    tags: {
      role_tag: 'role',
      content_tag: 'content',
      user_tag: 'user',
      assistant_tag: 'assistant'
    }
  };
}

function datasetInfo(job: ExportJob, images: boolean): Record<string, unknown> {
  const slug = jobSlug(job.name);
  const entries: Record<string, unknown> = {};
  if (wecloneScored.fits?.(job)) {
    const scored = exportFileName(job.name, wecloneScored);
    const cleaned = exportFileName(job.name, wecloneCleaned);
    for (const name of ['chat-sft', slug]) {
      entries[name] = wecloneEntry(scored, false);
      entries[`${name}-cleaned`] = wecloneEntry(cleaned, false);
      if (images) {
        entries[`${name}-vl`] = wecloneEntry(scored, true);
        entries[`${name}-vl-cleaned`] = wecloneEntry(cleaned, true);
      }
    }
  }
  entries[`${slug}-sharegpt`] = {
    file_name: exportFileName(job.name, sharegptOutput),
    formatting: 'sharegpt',
    columns: { messages: 'messages' },
    tags: {
      role_tag: 'role',
      content_tag: 'content',
      user_tag: 'user',
      assistant_tag: 'assistant',
      system_tag: 'system'
    }
  };
  entries[`${slug}-alpaca`] = {
    file_name: exportFileName(job.name, alpacaOutput),
    columns: {
      prompt: 'instruction',
      query: 'input',
      response: 'output',
      system: 'system',
      history: 'history'
    }
  };
  return entries;
}

export const datasetInfoOutput: Exporter = exporter(
  {
    id: 'dataset-info',
    label: 'LLaMA-Factory dataset_info.json',
    menuLabel: 'LLaMA-Factory dataset_info.json',
    fileName: 'dataset_info.json',
    mimeType: 'application/json',
    extension: 'json'
  },
  (job) => {
    // The `-vl` entries need to know whether any pair has images: the file is written at the end.
    let images = false;
    return {
      add(item) {
        images ||= item.pair?.hasImages === true;
        return '';
      },
      end: () => JSON.stringify(datasetInfo(job, images), null, 2) + '\n'
    };
  }
);
