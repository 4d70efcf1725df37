import { describe, expect, it } from 'vitest';
import { promptPieces, promptTokenIds, type ChatTemplate } from '$lib/worker/engine/chat-template';

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

  it('the tokens of every piece, plus the system prefix tokens: the prompt as counted', () => {
    const messages = [{ role: 'user', content: 'Hi' }];
    const pieces = promptPieces(QWEN2, messages).join('');
    expect(promptTokenIds(chars, QWEN2, messages)).toHaveLength(pieces.length);
    expect(
      promptTokenIds(chars, { ...QWEN2, system_prefix_token_ids: [1, 2] }, messages)
    ).toHaveLength(pieces.length + 2);
  });

  it('lays out the token ids WebLLM prefills: the system prefix, then each piece in order', () => {
    const messages = [{ role: 'user', content: 'Hi' }];
    const codes = (text: string) => Array.from(text, (c) => c.charCodeAt(0));
    const text = promptPieces(QWEN2, messages).join('');
    const ids = promptTokenIds(codes, { ...QWEN2, system_prefix_token_ids: [1, 2] }, messages);
    expect(ids).toEqual([1, 2, ...codes(text)]);
  });
});
