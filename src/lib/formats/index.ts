/** The export formats, in the order the page offers them. */
import { csvOutput } from './csv';
import { openaiBatchOutput } from './openai-batch-output';
import type { Exporter } from './types';

export const exporters: readonly Exporter[] = [openaiBatchOutput, csvOutput];
