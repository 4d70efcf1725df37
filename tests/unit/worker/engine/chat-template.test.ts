import { describe, expect, it } from 'vitest';
import {
  countChatTokens,
  promptPieces,
  promptTokenIds,
  type ChatTemplate
} from '$lib/worker/engine/chat-template';
import { pipelineTokenCounter } from '$lib/worker/engine/webllm';

/** mlc-llm's `qwen2` conversation template (python/mlc_llm/conversation_template/qwen2.py). */
const QWEN2: ChatTemplate = {
  system_template: '<|im_start|>system\n{system_message}<|im_end|>\n',
  system_message: 'You are a helpful assistant.',
  roles: { user: '<|im_start|>user', assistant: '<|im_start|>assistant' },
  seps: ['<|im_end|>\n'],
  role_content_sep: '\n',
  role_empty_sep: '\n'
};

/** A stand-in tokenizer: one token per character. */
const chars = (text: string) => Array.from(text, (c) => c.codePointAt(0) ?? 0);

describe('promptPieces (as WebLLM 0.2.86 prefills a chat request)', () => {
  it("lays out Qwen2.5's ChatML with the job's system prompt", () => {
    expect(
      promptPieces(QWEN2, [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Score this pair.' }
      ])
    ).toEqual([
      '<|im_start|>system\nBe brief.<|im_end|>\n',
      '<|im_start|>user\nScore this pair.<|im_end|>\n',
      '<|im_start|>assistant\n'
    ]);
  });

  it("uses the template's system message when the request has none, and alternates seps", () => {
    const template = { ...QWEN2, seps: ['A', 'B'] };
    expect(
      promptPieces(template, [
        { role: 'user', content: 'q1' },
        { role: 'assistant', content: 'a1' },
        { role: 'user', content: 'q2' }
      ])
    ).toEqual([
      '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n',
      '<|im_start|>user\nq1A',
      '<|im_start|>assistant\na1B',
      '<|im_start|>user\nq2A',
      '<|im_start|>assistant\n'
    ]);
  });

  it('honours role templates, an empty system message and a missing separator field', () => {
    const template: ChatTemplate = {
      ...QWEN2,
      system_message: '',
      render_empty_system_message: false,
      role_templates: { user: '<q>{user_message}</q>{function_string}' },
      role_content_sep: undefined,
      role_empty_sep: ''
    };
    expect(promptPieces(template, [{ role: 'user', content: 'x' }])).toEqual([
      '<|im_start|>user: <q>x</q><|im_end|>\n',
      '<|im_start|>assistant'
    ]);
  });

  it('refuses a system message that is not first, and a role the template lacks', () => {
    expect(() =>
      promptPieces(QWEN2, [
        { role: 'user', content: 'x' },
        { role: 'system', content: 'y' }
      ])
    ).toThrow('A system message must come first.');
    expect(() => promptPieces(QWEN2, [{ role: 'tool', content: 'x' }])).toThrow(
      'The chat template has no role "tool".'
    );
  });

  it('counts every piece with the tokenizer, plus the system prefix tokens', () => {
    const messages = [{ role: 'user', content: 'Hi' }];
    const pieces = promptPieces(QWEN2, messages).join('');
    expect(countChatTokens(chars, QWEN2, messages)).toBe(pieces.length);
    expect(countChatTokens(chars, { ...QWEN2, system_prefix_token_ids: [1, 2] }, messages)).toBe(
      pieces.length + 2
    );
  });

  it('lays out the token ids WebLLM prefills: the system prefix, then each piece in order', () => {
    const messages = [{ role: 'user', content: 'Hi' }];
    const codes = (text: string) => Array.from(text, (c) => c.charCodeAt(0));
    const text = promptPieces(QWEN2, messages).join('');
    const ids = promptTokenIds(codes, { ...QWEN2, system_prefix_token_ids: [1, 2] }, messages);
    expect(ids).toEqual([1, 2, ...codes(text)]);
    expect(ids).toHaveLength(
      countChatTokens(codes, { ...QWEN2, system_prefix_token_ids: [1, 2] }, messages)
    );
  });
});

describe("pipelineTokenCounter (WebLLM's loaded tokenizer)", () => {
  const request = {
    messages: [{ role: 'user' as const, content: 'Hi' }],
    temperature: 0,
    top_p: 1,
    max_tokens: 8,
    seed: 1
  };

  it('counts with the pipeline of the loaded model, its conv_config over its template', () => {
    const pipeline = {
      tokenizer: { encode: (text: string) => Int32Array.from(chars(text)) },
      config: { conv_template: QWEN2, conv_config: { system_message: 'S' } }
    };
    const engine = { loadedModelIdToPipeline: new Map([['m', pipeline]]) };
    const count = pipelineTokenCounter(engine, 'm');
    expect(count?.(request)).toBe(
      promptPieces({ ...QWEN2, system_message: 'S' }, request.messages).join('').length
    );
  });

  it('gives no counter (estimates stay) when the internals are not there', () => {
    expect(pipelineTokenCounter({}, 'm')).toBeNull();
    expect(pipelineTokenCounter({ loadedModelIdToPipeline: new Map() }, 'm')).toBeNull();
    const noTemplate = { tokenizer: { encode: chars }, config: {} };
    expect(
      pipelineTokenCounter({ loadedModelIdToPipeline: new Map([['m', noTemplate]]) }, 'm')
    ).toBeNull();
  });
});
