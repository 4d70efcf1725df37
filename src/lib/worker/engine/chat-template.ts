/**
 * A chat request's prompt as the tokens WebLLM prefills, and so counts: the request
 * is laid out the way WebLLM 0.2.79 lays it out for prefill
 * (`getConversationFromChatCompletionRequest`, then `Conversation.getPromptArray`
 * with the reply header, then `tokenizer.encode` of each piece; see
 * `lib/index.js` of @mlc-ai/web-llm 0.2.79), text messages only.
 *
 * For Qwen2.5 (`qwen2` template in mlc-chat-config.json) the pieces are
 * `<|im_start|>system\n…<|im_end|>\n`, `<|im_start|>user\n…<|im_end|>\n`, and
 * the reply header `<|im_start|>assistant\n`.
 */

/** The fields of WebLLM's `ConvTemplateConfig` that shape a text prompt. */
export interface ChatTemplate {
  system_template: string;
  system_message: string;
  roles: Record<string, string>;
  role_templates?: Partial<Record<string, string>>;
  seps: string[];
  role_content_sep?: string;
  role_empty_sep?: string;
  system_prefix_token_ids?: number[];
  add_role_after_system_message?: boolean;
  /** Not in WebLLM 0.2.79's templates (0.2.80 added it): absent, an empty system message renders. */
  render_empty_system_message?: boolean;
}

export interface TemplateMessage {
  role: string;
  content: string;
}

/** WebLLM's placeholders (`MessagePlaceholders`). */
const PLACEHOLDER: Record<string, string> = {
  user: '{user_message}',
  assistant: '{assistant_message}',
  tool: '{tool_message}'
};

function sep(value: string | undefined): string {
  // WebLLM: "Add ': ' if there is no such field. If '', do not add sep"
  return value ?? ': ';
}

/** The strings WebLLM tokenizes for one chat request, in order. */
export function promptPieces(
  template: ChatTemplate,
  messages: readonly TemplateMessage[]
): string[] {
  if (template.seps.length === 0) throw new Error('The chat template has no separators.');
  let system = template.system_message;
  const turns: TemplateMessage[] = [];
  messages.forEach((message, i) => {
    if (message.role === 'system') {
      if (i !== 0) throw new Error('A system message must come first.');
      system = message.content;
    } else {
      turns.push(message);
    }
  });
  const systemPrompt =
    system === '' && template.render_empty_system_message === false
      ? ''
      : template.system_template.replace('{system_message}', system);
  const pieces = systemPrompt !== '' ? [systemPrompt] : [];
  turns.forEach((turn, i) => {
    const roleName = template.roles[turn.role];
    if (roleName === undefined) throw new Error(`The chat template has no role "${turn.role}".`);
    const roleTemplate = template.role_templates?.[turn.role];
    const text =
      roleTemplate !== undefined
        ? roleTemplate
            .replace(PLACEHOLDER[turn.role] ?? '\u0000', turn.content)
            .replace('{function_string}', '')
        : turn.content;
    const prefix =
      template.add_role_after_system_message === false && systemPrompt !== '' && i === 0
        ? ''
        : roleName + sep(template.role_content_sep);
    pieces.push(prefix + text + template.seps[i % template.seps.length]);
  });
  const assistant = template.roles['assistant'] ?? 'assistant';
  pieces.push(assistant + sep(template.role_empty_sep));
  return pieces;
}

/** The token ids WebLLM prefills for a chat request (its `getInputData`, text only). */
export function promptTokenIds(
  encode: (text: string) => ArrayLike<number>,
  template: ChatTemplate,
  messages: readonly TemplateMessage[]
): number[] {
  const ids = [...(template.system_prefix_token_ids ?? [])];
  for (const piece of promptPieces(template, messages)) ids.push(...Array.from(encode(piece)));
  return ids;
}
