/**
 * The models LocalBatch offers. Figures from WebLLM 0.2.86's prebuiltAppConfig
 * (read from the npm package, see shared/PLATFORM-FACTS.md).
 */

export interface ModelChoice {
  id: string;
  label: string;
  /** WebLLM's own estimate (prebuiltAppConfig.vram_required_MB); its authors call it optimistic. */
  vramMB: number;
  needsShaderF16: boolean;
}

export const DEFAULT_MODEL_F16 = 'Qwen2.5-7B-Instruct-q4f16_1-MLC';
export const DEFAULT_MODEL_F32 = 'Qwen2.5-7B-Instruct-q4f32_1-MLC';

export const MODELS: ModelChoice[] = [
  {
    id: DEFAULT_MODEL_F16,
    label: 'Qwen2.5-7B-Instruct (4-bit, f16)',
    vramMB: 5106.67,
    needsShaderF16: true
  },
  {
    id: DEFAULT_MODEL_F32,
    label: 'Qwen2.5-7B-Instruct (4-bit, f32)',
    vramMB: 5900.09,
    needsShaderF16: false
  }
];

/** The default model for an adapter: q4f16_1 needs `shader-f16`, which WebLLM does not check itself. */
export function defaultModelFor(hasShaderF16: boolean): string {
  return hasShaderF16 ? DEFAULT_MODEL_F16 : DEFAULT_MODEL_F32;
}
