import { describe, expect, it } from 'vitest';
import { alpacaOutput, sharegptOutput } from '$lib/formats/dataset';
import { exporters } from '$lib/formats';
import { parseImport } from '$lib/formats/import';
import { describeProblem } from '$lib/formats/problems';
import type { ExportInput } from '$lib/formats/types';
import { answerReader, checkSchema } from '$lib/shared/answer';
import type { JobSettings } from '$lib/shared/job';
import { wecloneDataset } from '../../fixtures/weclone';

const text = (s: string) => new TextEncoder().encode(s);

describe('dataset input', () => {
  it('a WeClone sft-my.json: pairs, every field kept, the question asked, images seen', () => {
    const pairs = wecloneDataset(10, [2]);
    const p = parseImport('sft-my.json', text(JSON.stringify(pairs, null, 4)));
    expect(p.format).toBe('sharegpt');
    expect(p.problems).toEqual([]);
    expect(p.items).toHaveLength(10);
    p.items.forEach((item, i) => {
      expect(item.customId).toBe(String(i));
      expect(item.pair?.original).toEqual(pairs[i]);
      expect(JSON.stringify(item.pair?.original)).toBe(JSON.stringify(pairs[i]));
      expect(item.messages.at(-1)).toEqual(pairs[i]!.messages.at(-2));
      expect(item.messages[0]).toEqual({ role: 'system', content: pairs[i]!.system });
    });
    expect(p.items.map((item) => item.pair?.hasImages)).toEqual(
      Array.from({ length: 10 }, (_, i) => i === 2)
    );
    // Multi-turn pairs keep every turn.
    expect(p.items[3]?.pair?.turns).toHaveLength(4);
  });

  it('an Alpaca array: instruction and input make the question, history the earlier turns', () => {
    const p = parseImport(
      'alpaca.json',
      text(
        JSON.stringify([
          {
            instruction: 'Translate',
            input: 'bonjour',
            output: 'hello',
            system: 'Be brief.',
            history: [['hi', 'hey']]
          },
          { instruction: 'Count to 3', output: '1 2 3' }
        ])
      )
    );
    expect(p.format).toBe('alpaca');
    expect(p.problems).toEqual([]);
    expect(p.items[0]?.pair?.turns).toEqual([
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: 'hey' },
      { role: 'user', content: 'Translate\nbonjour' },
      { role: 'assistant', content: 'hello' }
    ]);
    expect(p.items[0]?.messages).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: 'hey' },
      { role: 'user', content: 'Translate\nbonjour' }
    ]);
    expect(p.items[1]?.customId).toBe('item-2');
  });

  it.each([
    [
      'not an array',
      JSON.stringify({ messages: [{ role: 'user', content: 'a' }] }, null, 2),
      [
        'd.json: the file holds one JSON object spread over several lines: write one object per line, or make the file a JSON array of objects'
      ]
    ],
    [
      'an item without messages',
      '[{"id": 1, "messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}, {"id": 2}]',
      [
        'd.json item 2: no "messages": a pair needs a list such as [{"role": "user", "content": "..."}, {"role": "assistant", "content": "..."}]'
      ]
    ],
    [
      'wrong roles',
      '[{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}, {"messages": [{"role": "human", "content": "a"}, {"role": "assistant", "content": "b"}]}, {"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}, {"role": "assistant", "content": "c"}]}]',
      [
        'd.json item 2: message 1 has role "human": use "user" or "assistant" (a "system" message may come first)',
        'd.json item 3: message 2 is from the user, but the assistant speaks here: turns must go user, assistant, user, assistant…'
      ]
    ],
    [
      'an id used twice',
      '[{"id": 7, "messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}, {"id": "7", "messages": [{"role": "user", "content": "c"}, {"role": "assistant", "content": "d"}]}]',
      ['d.json item 2: duplicate id "7" (first seen on item 1)']
    ],
    [
      'images not a list',
      '[{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}], "images": "a.jpg"}, {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}]',
      [
        'd.json item 1: "images" is a text: it must be a list of image paths, such as ["img/1.jpg"], or []'
      ]
    ],
    [
      'no answer at the end',
      '[{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}, {"messages": [{"role": "user", "content": "a"}]}]',
      [
        'd.json item 2: the last message is not the assistant\'s: each pair ends with the answer ("role": "assistant")'
      ]
    ],
    [
      'an Alpaca item without instruction, or with a bad history',
      '[{"instruction": "a", "output": "b"}, {"output": "c"}, {"instruction": "d", "output": "e", "history": [["only one"]]}]',
      [
        'd.json item 2: "instruction" is missing: it must hold the question',
        'd.json item 3: "history" round 1 is a list: each round must be ["question", "answer"]'
      ]
    ]
  ])('%s: each problem names its item', (_, json, messages) => {
    const p = parseImport('d.json', text(json));
    expect(p.problems.map((problem) => describeProblem('d.json', problem))).toEqual(messages);
  });
});

const settings: Omit<JobSettings, 'name'> = {
  systemPrompt: '',
  temperature: 0.7,
  top_p: 0.95,
  max_tokens: 64,
  seed: 0
};

function exportInput(): ExportInput {
  const messages = [
    { role: 'system' as const, content: 'Be brief.' },
    { role: 'user' as const, content: 'hi' },
    { role: 'assistant' as const, content: 'hey' },
    { role: 'user' as const, content: 'free tonight?' }
  ];
  const done = {
    status: 'done' as const,
    text: 'yes',
    finishReason: 'stop',
    usage: null,
    error: null,
    model: 'm',
    finishedAt: 0
  };
  return {
    job: { id: 'j', name: 'Chat', settings: { ...settings, name: 'Chat' } },
    inputs: [
      { index: 0, customId: 'a', messages },
      { index: 1, customId: 'b', messages: [{ role: 'user', content: 'never answered' }] }
    ],
    results: [done, { ...done, status: 'failed', text: '' }]
  };
}

describe('dataset output', () => {
  it('ShareGPT: the prompt as asked, then the answer', () => {
    expect(JSON.parse(sharegptOutput.write(exportInput()))).toEqual([
      {
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: 'hi' },
          { role: 'assistant', content: 'hey' },
          { role: 'user', content: 'free tonight?' },
          { role: 'assistant', content: 'yes' }
        ]
      }
    ]);
  });

  it('Alpaca: the last question, the answer, the system and the earlier turns as history', () => {
    expect(JSON.parse(alpacaOutput.write(exportInput()))).toEqual([
      {
        instruction: 'free tonight?',
        input: '',
        output: 'yes',
        system: 'Be brief.',
        history: [['hi', 'hey']]
      }
    ]);
  });

  it('dataset_info.json names the ShareGPT and Alpaca files of any job', () => {
    const info = exporters.find((e) => e.id === 'dataset-info')!;
    expect(JSON.parse(info.write(exportInput()))).toEqual({
      'chat-sharegpt': {
        file_name: 'chat-sharegpt.json',
        formatting: 'sharegpt',
        columns: { messages: 'messages' },
        tags: {
          role_tag: 'role',
          content_tag: 'content',
          user_tag: 'user',
          assistant_tag: 'assistant',
          system_tag: 'system'
        }
      },
      'chat-alpaca': {
        file_name: 'chat-alpaca.json',
        columns: {
          prompt: 'instruction',
          query: 'input',
          response: 'output',
          system: 'system',
          history: 'history'
        }
      }
    });
  });
});

describe('answers', () => {
  const read = answerReader({
    type: 'object',
    properties: { score: { type: 'integer', enum: [1, 2, 3, 4, 5] } },
    required: ['score'],
    additionalProperties: false
  });

  it('reads JSON valid for the schema, also inside a Markdown fence', () => {
    expect(read('{"score": 3}')).toEqual({ ok: true, value: { score: 3 } });
    expect(read('```json\n{"score": 5}\n```')).toEqual({ ok: true, value: { score: 5 } });
  });

  it('says why an answer is not valid', () => {
    expect(read('{"score": 4')).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/^The answer is not JSON \(/)
    });
    expect(read('{"score": 9}')).toEqual({
      ok: false,
      reason:
        'The answer does not follow the schema (score: Instance does not match any of [1,2,3,4,5].): "{\\"score\\": 9}".'
    });
    expect(read('')).toEqual({ ok: false, reason: 'The answer is empty: no JSON was written.' });
  });

  it('a schema must be an object the validator accepts', () => {
    expect(checkSchema([])).toContain('must be a JSON object');
    expect(checkSchema({ type: 'object' })).toBeNull();
  });
});
