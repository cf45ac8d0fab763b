/**
 * Streams records from a JSONL or CSV file (or stdin) with their line numbers. A line that
 * cannot be parsed is yielded as an error, never thrown: the caller reports it and goes on.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { parse } from 'csv-parse';

export type InputFormat = 'jsonl' | 'csv';

export type InputRecord =
  | { line: number; record: Record<string, unknown>; error?: undefined }
  | { line: number; record?: undefined; error: string };

/** jsonl unless the file name ends in .csv or .tsv. */
export function formatOf(file: string): InputFormat {
  return /\.(csv|tsv)$/i.test(file) ? 'csv' : 'jsonl';
}

export function openInput(file: string): Readable {
  return file === '-' ? process.stdin : createReadStream(file);
}

export async function* readRecords(input: Readable, format: InputFormat): AsyncGenerator<InputRecord> {
  if (format === 'jsonl') {
    yield* readJsonl(input);
  } else {
    yield* readCsv(input);
  }
}

async function* readJsonl(input: Readable): AsyncGenerator<InputRecord> {
  const rl = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
  let line = 0;
  for await (const text of rl) {
    line++;
    if (text.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      yield { line, error: `malformed JSON (${(err as Error).message})` };
      continue;
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      yield { line, error: 'not a JSON object' };
      continue;
    }
    yield { line, record: value as Record<string, unknown> };
  }
}

async function* readCsv(input: Readable): AsyncGenerator<InputRecord> {
  const parser = input.pipe(
    parse({
      columns: (header: string[]) => header.map((h) => h.trim()),
      bom: true,
      relax_column_count: true,
      relax_quotes: true,
      skip_empty_lines: true,
      info: true,
    }),
  );
  try {
    for await (const row of parser as AsyncIterable<{
      record: Record<string, string>;
      info: { lines: number };
    }>) {
      yield { line: row.info.lines, record: row.record };
    }
  } catch (err) {
    // csv-parse stops at an unrecoverable error (an unclosed quote at the end of the file)
    const e = err as { message: string; lines?: number };
    yield { line: e.lines ?? 0, error: `malformed CSV (${e.message})` };
  }
}
