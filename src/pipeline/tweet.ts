/**
 * Validation of one incoming tweet, shared by every way tweets arrive (HTTP, CLI, replay):
 * either a clean tweet or a reason it was refused. Nothing here throws on bad input.
 */

export interface TweetFields {
  text: string;
  id: string;
  vector?: string;
  time?: string;
}

export interface CleanTweet {
  id: string;
  text: string;
  /** ms since the epoch, from the tweet's own time when it has one */
  time: number | undefined;
  /** unit-length vector when the tweet carried its own embedding */
  vector: Float32Array | undefined;
}

export type Checked = { ok: true; tweet: CleanTweet } | { ok: false; error: string };

/** Longest text accepted, in UTF-16 code units: far above a tweet (280 chars), well below abuse. */
export const MAX_TEXT_LENGTH = 10_000;

export function checkTweet(
  record: Record<string, unknown>,
  fields: TweetFields,
  fallbackId: string,
  dim?: number,
): Checked {
  const rawText = record[fields.text];
  let text = '';
  if (typeof rawText === 'string') text = rawText;
  else if (rawText !== undefined && rawText !== null)
    return { ok: false, error: `field "${fields.text}" is not a string` };
  if (text.length > MAX_TEXT_LENGTH)
    return { ok: false, error: `field "${fields.text}" is longer than ${MAX_TEXT_LENGTH} characters` };

  let vector: Float32Array | undefined;
  if (fields.vector !== undefined) {
    const v = parseVector(record[fields.vector], fields.vector, dim);
    if (typeof v === 'string') return { ok: false, error: v };
    vector = v;
  } else if (text.trim() === '') {
    return { ok: false, error: `no text in field "${fields.text}"` };
  }

  const rawId = record[fields.id];
  let id = fallbackId;
  if (typeof rawId === 'string' && rawId !== '') id = rawId;
  else if (typeof rawId === 'number' && Number.isFinite(rawId)) id = String(rawId);
  else if (rawId !== undefined && rawId !== null && rawId !== '')
    return { ok: false, error: `field "${fields.id}" is not a string or number` };

  let time: number | undefined;
  if (fields.time !== undefined && record[fields.time] !== undefined && record[fields.time] !== null) {
    time = parseTime(record[fields.time]);
    if (time === undefined) return { ok: false, error: `field "${fields.time}" is not a date` };
  }
  return { ok: true, tweet: { id, text, time, vector } };
}

/** A JSON array of numbers, or a string holding one (CSV), L2-normalised. */
export function parseVector(raw: unknown, field: string, dim?: number): Float32Array | string {
  let arr: unknown = raw;
  if (typeof raw === 'string') {
    try {
      arr = JSON.parse(raw);
    } catch {
      return `field "${field}" is not a JSON array of numbers`;
    }
  }
  if (!Array.isArray(arr)) return `field "${field}" is missing or not an array of numbers`;
  if (dim !== undefined && arr.length !== dim)
    return `field "${field}" has dimension ${arr.length}, expected ${dim}`;
  if (arr.length === 0) return `field "${field}" is empty`;
  // Normalised in doubles after scaling by the largest |x_i|, so that huge or tiny values
  // (1e200, 1e-50) neither overflow nor vanish before they become float32.
  let max = 0;
  for (let i = 0; i < arr.length; i++) {
    const x = arr[i];
    if (typeof x !== 'number' || !Number.isFinite(x))
      return `field "${field}" has a non-numeric value at ${i}`;
    if (Math.abs(x) > max) max = Math.abs(x);
  }
  if (max === 0) return `field "${field}" is the zero vector`;
  let norm = 0;
  for (let i = 0; i < arr.length; i++) {
    const x = (arr[i] as number) / max;
    norm += x * x;
  }
  const len = Math.sqrt(norm);
  const v = new Float32Array(arr.length);
  for (let i = 0; i < arr.length; i++) v[i] = (arr[i] as number) / max / len;
  return v;
}

const MAX_DATE_MS = 8.64e15;

/** ISO 8601, Twitter's "Wed Oct 10 20:19:24 +0000 2018", or epoch seconds / milliseconds. */
export function parseTime(raw: unknown): number | undefined {
  if (typeof raw === 'number') {
    if (!Number.isFinite(raw)) return undefined;
    const ms = Math.abs(raw) < 1e11 ? raw * 1000 : raw;
    // the range of a JavaScript Date: +-100,000,000 days from 1970
    return Math.abs(ms) <= MAX_DATE_MS ? ms : undefined;
  }
  if (typeof raw !== 'string' || raw === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(raw)) return parseTime(Number(raw));
  const t = Date.parse(raw);
  return Number.isNaN(t) ? undefined : t;
}
