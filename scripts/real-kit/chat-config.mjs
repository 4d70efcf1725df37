// The kit model's mlc-chat-config.json: what WebLLM 0.2.79 reads from it (LLMChatPipeline,
// getConversation, asyncLoadTokenizer in its lib/index.js), for a Qwen2 library. The
// window sizes come from the library's own metadata; the rest is Qwen2.5-Instruct's.

/** Qwen2's special tokens (ids < 151643 are the byte-level BPE vocabulary). */
export const QWEN_TOKENS = {
  '<|endoftext|>': 151643,
  '<|im_start|>': 151644,
  '<|im_end|>': 151645
};

/**
 * @param {{ model_type: string, quantization: string, context_window_size: number,
 *   prefill_chunk_size: number }} meta
 * @param {number} vocabSize the rows of the library's embedding (the LM head's outputs)
 */
export function chatConfig(meta, vocabSize) {
  return {
    version: '0.1.0',
    model_type: meta.model_type,
    quantization: meta.quantization,
    // xgrammar's token bitmask is this wide: the library's row count, not the tokenizer's.
    vocab_size: vocabSize,
    context_window_size: meta.context_window_size,
    // -1, not absent: 0.2.79 throws WindowSizeConfigurationError unless exactly one window is set.
    sliding_window_size: -1,
    attention_sink_size: -1,
    prefill_chunk_size: meta.prefill_chunk_size,
    tensor_parallel_shards: 1,
    temperature: 0.7,
    presence_penalty: 0,
    frequency_penalty: 0,
    repetition_penalty: 1.05,
    top_p: 0.8,
    tokenizer_files: ['tokenizer.json'],
    // Without it 0.2.79 assumes "raw" tokens, and xgrammar's token table is wrong for byte-level BPE.
    tokenizer_info: {
      token_postproc_method: 'byte_level',
      prepend_space_in_encode: false,
      strip_space_in_decode: false
    },
    conv_template: {
      name: 'qwen2',
      system_template: '<|im_start|>system\n{system_message}<|im_end|>\n',
      // Empty, where mlc-llm's qwen2 template says "You are a helpful assistant." (6 tokens
      // more) and Qwen2.5's own template "You are Qwen, created by Alibaba Cloud. You are a
      // helpful assistant." (16 more): prefill costs about 2 s a token on SwiftShader, for
      // every item. 0.2.79 cannot leave the system turn out, so a request without a system
      // message gets "<|im_start|>system\n<|im_end|>\n" (5 tokens), well-formed ChatML; a
      // request with one replaces the empty message as usual.
      system_message: '',
      system_prefix_token_ids: null,
      add_role_after_system_message: true,
      roles: { user: '<|im_start|>user', assistant: '<|im_start|>assistant' },
      role_templates: {
        user: '{user_message}',
        assistant: '{assistant_message}',
        tool: '{tool_message}'
      },
      messages: [],
      seps: ['<|im_end|>\n'],
      role_content_sep: '\n',
      role_empty_sep: '\n',
      stop_str: ['<|endoftext|>', '<|im_end|>'],
      stop_token_ids: [QWEN_TOKENS['<|endoftext|>'], QWEN_TOKENS['<|im_end|>']],
      function_string: '',
      use_function_calling: false
    },
    pad_token_id: QWEN_TOKENS['<|endoftext|>'],
    bos_token_id: QWEN_TOKENS['<|endoftext|>'],
    eos_token_id: [QWEN_TOKENS['<|im_end|>'], QWEN_TOKENS['<|endoftext|>']]
  };
}
