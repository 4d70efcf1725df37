import { describe, expect, test } from 'vitest';
import { jsonArray, lines } from '$lib/formats/writer';
import type { ExportItem, ExportResult } from '$lib/formats/types';

function item(n: number): ExportItem {
  return { index: n, line: n + 1, customId: `q-${n}`, messages: [], params: {} } as ExportItem;
}

const ELEMENTS: unknown[] = [
  { a: 1, b: [1, 2, { c: 'x\ny' }], d: {}, e: [], f: null },
  'text with "quotes" and 中文',
  [],
  {},
  [[], [{}], { g: [{ h: 'deep' }] }],
  42
];

describe('jsonArray', () => {
  for (const indent of [2, 4]) {
    test(`writes what JSON.stringify(array, null, ${indent}) writes, item by item`, () => {
      const writer = jsonArray(indent, (it) => ELEMENTS[it.index]);
      let out = '';
      ELEMENTS.forEach((_, n) => (out += writer.add(item(n), undefined)));
      expect(out + writer.end()).toBe(JSON.stringify(ELEMENTS, null, indent) + '\n');
    });
  }

  test('leaves out the items whose value is undefined, and writes [] for none', () => {
    const some = jsonArray(2, (it) => (it.index % 2 ? undefined : { n: it.index }));
    let out = '';
    for (let n = 0; n < 5; n++) out += some.add(item(n), undefined);
    expect(out + some.end()).toBe(JSON.stringify([{ n: 0 }, { n: 2 }, { n: 4 }], null, 2) + '\n');

    const none = jsonArray(4, () => undefined);
    expect(none.add(item(0), undefined) + none.end()).toBe('[]\n');
  });
});

describe('lines', () => {
  test('one line per item with a result, none for the rest', () => {
    const writer = lines((it) => it.customId);
    const done = { status: 'done' } as ExportResult;
    expect(
      writer.add(item(0), done) +
        writer.add(item(1), undefined) +
        writer.add(item(2), done) +
        writer.end()
    ).toBe('q-0\nq-2\n');
  });
});
