/**
 * Writing an export item by item, so a 100,000-item file is built in small pieces (the
 * page streams them to the disk or into a Blob of many parts) while the whole-file
 * `write` stays for tests, the results viewer and small files: both come from one writer.
 */
import type {
  ExportInput,
  ExportItem,
  ExportJob,
  ExportResult,
  ExportWriter,
  Exporter
} from './types';

/** `writer`'s text for these items: `addMany` where it has one, else `add` for each. */
export function addAll(
  writer: ExportWriter,
  items: readonly ExportItem[],
  results: readonly (ExportResult | undefined)[]
): string {
  if (writer.addMany) return writer.addMany(items, results);
  let out = '';
  items.forEach((item, i) => (out += writer.add(item, results[i])));
  return out;
}

export type ExporterMeta = Omit<Exporter, 'write' | 'writer'>;

/** An exporter from its meta and its writer: `write` runs the writer over every item. */
export function exporter(meta: ExporterMeta, writer: (job: ExportJob) => ExportWriter): Exporter {
  return {
    ...meta,
    writer,
    write(input: ExportInput): string {
      const w = writer(input.job);
      return addAll(w, input.inputs, input.results) + w.end();
    }
  };
}

/**
 * A JSON array written item by item, byte for byte what `JSON.stringify(array, null, indent)`
 * writes, plus a final line break. `value` gives an item's element, or undefined to leave it out.
 */
export function jsonArray(
  indent: number,
  value: (item: ExportItem, result: ExportResult | undefined) => unknown
): ExportWriter {
  const pad = ' '.repeat(indent);
  let count = 0;
  return {
    add(item, result) {
      const element = value(item, result);
      if (element === undefined) return '';
      const text = JSON.stringify(element, null, indent).replace(/\n/g, '\n' + pad);
      return (count++ ? ',\n' : '[\n') + pad + text;
    },
    end: () => (count ? '\n]\n' : '[]\n')
  };
}

/** One line per finished item (JSON lines). */
export function lines(line: (item: ExportItem, result: ExportResult) => string): ExportWriter {
  return {
    add: (item, result) => (result ? line(item, result) + '\n' : ''),
    end: () => ''
  };
}
