/**
 * Tweet-aware tokenizer. One pass of one precompiled regex over the normalised text; each match
 * is a URL, a "via @user" credit, an emoji, a mention, a hashtag, a number or a word.
 *
 * Normalisation, in order:
 *   1. NFKC (fullwidth "ＨＥＬＬＯ" -> "HELLO", ligatures, superscripts), skipped for pure-ASCII
 *      text, which NFKC leaves unchanged. Then the five HTML entities the Twitter API leaves in
 *      tweet text (&amp; &lt; &gt; &quot; &#39;) are decoded.
 *   2. A leading retweet marker, "RT @user:" (also "MT", repeated "RT @a: RT @b:"), is dropped
 *      and reported as `retweet: true`. "via @user" anywhere is dropped too: it credits a source
 *      and says nothing about the story, but it does not make the text a retweet.
 *   3. Case folding per token with toLowerCase() (not toLocaleLowerCase, whose Turkish or
 *      Lithuanian rules would make the vectors depend on the machine's locale). Hashtags are
 *      split into words before folding, because the case boundaries are the split points.
 *
 * What each kind of token becomes (the `text` of a Token):
 *   - url:     the host, lower case, without "www." or "m.": "https://t.co/Ab12" -> "t.co". The
 *              path of a shortened link is a random id that never repeats, so as a feature it
 *              would only add noise; the host still separates "nytimes.com" from "bbc.co.uk".
 *              Link shorteners' hosts (t.co, bit.ly, ...) are dropped: they say nothing about
 *              the content, and t.co, on nearly every tweet with a link, would otherwise be
 *              the top term of most clusters and pull unrelated tweets with links together.
 *   - mention: "@name", lower case.
 *   - hashtag: "#name", lower case, AND its parts as words: "#HurricaneSandy" -> "#hurricanesandy",
 *              "hurricane", "sandy". Parts split at lower->Upper, at the last capital of an
 *              acronym ("NYCFlood" -> nyc, flood), between letters and digits and at underscores.
 *              A hashtag of digits only ("#1") is not a hashtag (as on Twitter): it is a number.
 *   - emoji:   one Extended_Pictographic sequence, ZWJ sequences ("👨‍👩‍👧"), flags (two regional
 *              indicators, and tag sequences such as England's) and keycaps kept whole. Skin
 *              tone modifiers and the emoji variation selector U+FE0F are removed, so "👍🏽"
 *              and "👍" are one feature.
 *   - number:  digits, with inner separators kept: "2012", "1,000", "3.5", "12:30".
 *   - word:    letters, marks and digits in any script. Apostrophes: a French/Italian elision
 *              before a vowel or h is dropped ("l'homme" -> "homme", "qu'il" -> "il"), a final
 *              "'s" is dropped ("obama's" -> "obama"), other apostrophes are removed so the
 *              word stays one token ("don't" -> "dont", matching the common apostrophe-less
 *              spelling). Runs of 3+ identical letters become 2 ("soooo" -> "soo", "goooal" ->
 *              "gooal"): two, not one, so "good", "coffee" and "soo" all stay stable. Digits
 *              are never collapsed ("1000").
 *
 * Scripts written without spaces (Han, Hiragana, Katakana, Thai, Lao, Khmer, Myanmar) are split
 * into words by Intl.Segmenter (ICU's dictionaries; the result can change between Node/ICU
 * versions). The segmenter is only called on a run of letters that contains such characters,
 * and the run test is only made when the whole text contains one: Latin text never pays for it.
 *
 * Filters: words shorter than `minLength` (default 2) code units are dropped, except words from
 * the segmenter, whose minimum is `minLengthCjk` (default 1: one Han character is a word). The
 * same minimum applies to numbers. Stop words (default: DEFAULT_STOP_WORDS) are dropped from
 * words, hashtag parts included; never from hashtags, mentions, emoji, URLs or numbers.
 */

import { DEFAULT_STOP_WORDS } from './stopwords.js';

export type TokenKind = 'word' | 'hashtag' | 'mention' | 'url' | 'emoji' | 'number';

export interface Token {
  readonly kind: TokenKind;
  readonly text: string;
}

export interface TokenizeResult {
  /** Content tokens in text order (a hashtag is followed by its parts). */
  readonly tokens: Token[];
  /** The text began with a retweet marker ("RT @user:"), which is not among the tokens. */
  readonly retweet: boolean;
}

/** Receives each content token; the allocation-free way to consume a tokenizer. */
export type TokenSink = (kind: TokenKind, text: string) => void;

export interface TokenizerOptions {
  /** Words to drop, in normalised form (see stopwords.ts). `false` keeps every word. */
  stopWords?: ReadonlySet<string> | false;
  /** Shortest word or number kept, in UTF-16 code units. Default 2. */
  minLength?: number;
  /** Shortest word kept among those Intl.Segmenter cut out of CJK/Thai/... text. Default 1. */
  minLengthCjk?: number;
  /** Also emit the words of each hashtag. Default true. */
  splitHashtags?: boolean;
}

/** Bumped whenever a change to this file can change the tokens of some text. */
export const TOKENIZER_VERSION = 2;

export const DEFAULT_TOKENIZER_OPTIONS = {
  minLength: 2,
  minLengthCjk: 1,
  splitHashtags: true,
} as const;

// ---------------------------------------------------------------------------------------------
// Patterns, compiled once.

const NON_ASCII = /[\u0080-\uffff]/;

/** Characters of the scripts that are written without spaces between words. */
const SEGMENTED_SCRIPT =
  /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Thai}\p{Script=Lao}\p{Script=Khmer}\p{Script=Myanmar}]/u;

const ENTITY = /&(?:amp|lt|gt|quot|#39);/g;
const ENTITY_CHARS: Record<string, string> = {
  '&amp;': '&',
  '&lt;': '<',
  '&gt;': '>',
  '&quot;': '"',
  '&#39;': "'",
};

/** "RT @a: RT @b: " at the start, possibly after quotes or spaces. */
const RETWEET_PREFIX = /^[\s"“']*(?:[RrMm][Tt]\s*@[\p{L}\p{N}_]+\s*:?\s*)+/u;

const WORD_CHAR = String.raw`\p{L}\p{M}\p{N}\u200C`;
const EXT_PICT_SEQ = String.raw`\p{Extended_Pictographic}(?:[\uFE0F\u20E3]|\p{Emoji_Modifier})*`;

/**
 * The token pattern. Alternatives are tried in this order at each position, and exactly one
 * capture group (or none, for a word) is set per match:
 *   1 url host  2 "via" credit  3 emoji  4 mention name  5 hashtag body  6 separated number
 *   (none) word.
 * Emoji come before numbers and hashtags because keycaps start with a digit, "#" or "*".
 * Mentions and hashtags must not follow a word character, so "a@b.com" is not a mention.
 */
const TOKEN = new RegExp(
  [
    String.raw`(?:[Hh][Tt][Tt][Pp][Ss]?:\/\/(?:[Ww][Ww][Ww]\.)?|[Ww][Ww][Ww]\.)([\p{L}\p{N}.\-]*)[!-~]*`,
    String.raw`([Vv][Ii][Aa])\s+@[\p{L}\p{N}_]+`,
    String.raw`(\p{Regional_Indicator}{2}|[#*0-9]\uFE0F?\u20E3|\u{1F3F4}[\u{E0020}-\u{E007E}]+\u{E007F}|${EXT_PICT_SEQ}(?:\u200D${EXT_PICT_SEQ})*)`,
    String.raw`(?<![\p{L}\p{N}_])@([\p{L}\p{N}_]+)`,
    String.raw`(?<![\p{L}\p{N}_])#([\p{L}\p{N}_][${WORD_CHAR}_]*)`,
    String.raw`(\p{Nd}+(?:[.,:]\p{Nd}+)+)`,
    String.raw`[\p{L}\p{N}][${WORD_CHAR}]*(?:['’][${WORD_CHAR}]+)*`,
  ].join('|'),
  'gu',
);

/**
 * Hashtag parts: an acronym before a capitalised word, a (capitalised) lower-case word (Lo
 * letters, which have no case, join it), a run of capitals, a run of digits. Underscores and
 * anything else are left between parts.
 */
const HASHTAG_PART =
  /\p{Lu}+(?=\p{Lu}[\p{Ll}\p{M}])|\p{Lu}?[\p{Ll}\p{Lm}\p{Lo}\p{Lt}\p{M}\u200C]+|\p{Lu}+|\p{N}+/gu;

const ALL_DIGITS = /^\p{Nd}+$/u;
const EMOJI_DECORATION = /[\uFE0F\u{1F3FB}-\u{1F3FF}]/gu;

/** Code units that count as an apostrophe inside a word: ' ’ ʼ. */
function isApostrophe(c: number): boolean {
  return c === 0x27 || c === 0x2019 || c === 0x02bc;
}

/** The French/Italian elided words: l' d' j' n' s' c' m' t' qu'. */
function isElision(w: string, at: number): boolean {
  if (at === 1) {
    const c = w.charCodeAt(0);
    // c d j l m n s t
    return (
      c === 99 || c === 100 || c === 106 || c === 108 || c === 109 || c === 110 || c === 115 || c === 116
    );
  }
  return at === 2 && w.charCodeAt(0) === 113 && w.charCodeAt(1) === 117; // qu
}

/** A vowel or h (an elision is only made before one); any non-ASCII letter counts (é, à...). */
function startsVowelish(c: number): boolean {
  return c === 97 || c === 101 || c === 105 || c === 111 || c === 117 || c === 121 || c === 104 || c >= 0xc0;
}

/** Applies the apostrophe rules of the file comment to a lower-case word that contains one. */
function resolveApostrophes(w: string): string {
  let first = 0;
  while (!isApostrophe(w.charCodeAt(first))) first++;
  if (isElision(w, first) && first + 1 < w.length && startsVowelish(w.charCodeAt(first + 1))) {
    w = w.slice(first + 1);
  }
  const n = w.length;
  if (n >= 3 && w.charCodeAt(n - 1) === 115 && isApostrophe(w.charCodeAt(n - 2))) w = w.slice(0, n - 2);
  let out = '';
  let from = 0;
  for (let i = 0; i < w.length; i++) {
    if (isApostrophe(w.charCodeAt(i))) {
      out += w.slice(from, i);
      from = i + 1;
    }
  }
  return from === 0 ? w : out + w.slice(from);
}

/** Collapses each run of 3+ identical non-digit code units to 2. */
function collapseRuns(w: string): string {
  let out = '';
  let from = 0;
  for (let i = 2; i < w.length; i++) {
    const c = w.charCodeAt(i);
    if (c === w.charCodeAt(i - 1) && c === w.charCodeAt(i - 2) && (c < 48 || c > 57)) {
      out += w.slice(from, i);
      from = i + 1;
    }
  }
  return from === 0 ? w : out + w.slice(from);
}

function decodeEntity(e: string): string {
  return ENTITY_CHARS[e];
}

let segmenter: Intl.Segmenter | undefined;

/** Fixed locale: word breaking for these scripts is dictionary based, not locale based. */
function wordSegmenter(): Intl.Segmenter {
  segmenter ??= new Intl.Segmenter('en', { granularity: 'word' });
  return segmenter;
}

// ---------------------------------------------------------------------------------------------

export class Tokenizer {
  readonly stopWords: ReadonlySet<string> | null;
  readonly minLength: number;
  readonly minLengthCjk: number;
  readonly splitHashtags: boolean;

  constructor(opts: TokenizerOptions = {}) {
    this.stopWords = opts.stopWords === false ? null : (opts.stopWords ?? DEFAULT_STOP_WORDS);
    this.minLength = positiveInt('minLength', opts.minLength ?? DEFAULT_TOKENIZER_OPTIONS.minLength);
    this.minLengthCjk = positiveInt(
      'minLengthCjk',
      opts.minLengthCjk ?? DEFAULT_TOKENIZER_OPTIONS.minLengthCjk,
    );
    this.splitHashtags = opts.splitHashtags ?? DEFAULT_TOKENIZER_OPTIONS.splitHashtags;
  }

  /**
   * Calls `sink` with each content token of `text`, in order, and returns whether the text was
   * a retweet. Reentrant: a sink may tokenize other texts.
   */
  scan(text: string, sink: TokenSink): boolean {
    let s = text;
    let segment = false;
    if (NON_ASCII.test(s)) {
      s = s.normalize('NFKC');
      segment = SEGMENTED_SCRIPT.test(s);
    }
    if (s.indexOf('&') !== -1) s = s.replace(ENTITY, decodeEntity);

    let pos = 0;
    let retweet = false;
    const rt = RETWEET_PREFIX.exec(s);
    if (rt !== null) {
      retweet = true;
      pos = rt[0].length;
    }

    const re = TOKEN;
    const minLength = this.minLength;
    for (;;) {
      // lastIndex is set before every exec, so a sink that scans again cannot lose our place.
      re.lastIndex = pos;
      const m = re.exec(s);
      if (m === null) break;
      pos = re.lastIndex;
      const tok = m[0];
      if (m[1] !== undefined) {
        const host = urlHost(m[1]);
        if (host.length > 0 && !SHORTENERS.has(host)) sink('url', host);
      } else if (m[2] !== undefined) {
        // "via @user": dropped.
      } else if (m[3] !== undefined) {
        const e = tok.length > 2 || tok.charCodeAt(1) === 0xfe0f ? tok.replace(EMOJI_DECORATION, '') : tok;
        if (e.length > 0) sink('emoji', e);
      } else if (m[4] !== undefined) {
        sink('mention', `@${m[4].toLowerCase()}`);
      } else if (m[5] !== undefined) {
        this.hashtag(m[5], sink, segment);
      } else if (m[6] !== undefined) {
        if (tok.length >= minLength) sink('number', tok);
      } else {
        this.word(tok, sink, segment);
      }
    }
    return retweet;
  }

  /** Tokens and retweet flag of `text`. Allocates a Token per token; `scan` allocates none. */
  tokenize(text: string): TokenizeResult {
    const tokens: Token[] = [];
    const retweet = this.scan(text, (kind, t) => {
      tokens.push({ kind, text: t });
    });
    return { tokens, retweet };
  }

  /** The text of each content token, in order (what per-cluster term counts are kept of). */
  contentTerms(text: string): string[] {
    const terms: string[] = [];
    this.scan(text, (_kind, t) => {
      terms.push(t);
    });
    return terms;
  }

  private hashtag(body: string, sink: TokenSink, segment: boolean): void {
    if (ALL_DIGITS.test(body)) {
      if (body.length >= this.minLength) sink('number', body);
      return;
    }
    sink('hashtag', `#${collapseRuns(body.toLowerCase())}`);
    if (!this.splitHashtags) return;
    const re = HASHTAG_PART;
    let pos = 0;
    for (;;) {
      re.lastIndex = pos;
      const m = re.exec(body);
      if (m === null) break;
      pos = re.lastIndex;
      this.word(m[0], sink, segment);
    }
  }

  /** A run of word characters: straight to `term`, or through the segmenter first. */
  private word(run: string, sink: TokenSink, segment: boolean): void {
    if (segment && SEGMENTED_SCRIPT.test(run)) {
      for (const seg of wordSegmenter().segment(run)) {
        if (seg.isWordLike !== true) continue;
        const w = seg.segment;
        this.term(w, sink, SEGMENTED_SCRIPT.test(w) ? this.minLengthCjk : this.minLength);
      }
      return;
    }
    this.term(run, sink, this.minLength);
  }

  /** Folds, fixes apostrophes and elongation, classifies and filters one word. */
  private term(raw: string, sink: TokenSink, minLength: number): void {
    let w = raw.toLowerCase();
    // One pass for the three rare cases, so the common word costs no extra allocation.
    let digits = true;
    let apostrophe = false;
    let run = false;
    let prev = -1;
    let prev2 = -1;
    for (let i = 0; i < w.length; i++) {
      const c = w.charCodeAt(i);
      if (c < 48 || c > 57) {
        digits = false;
        if (isApostrophe(c)) apostrophe = true;
        else if (c === prev && c === prev2) run = true;
      }
      prev2 = prev;
      prev = c;
    }
    if (!digits && w.charCodeAt(0) >= 0x660 && ALL_DIGITS.test(w)) digits = true; // Arabic-Indic etc.
    if (digits) {
      if (w.length >= minLength) sink('number', w);
      return;
    }
    if (apostrophe) w = resolveApostrophes(w);
    if (run) w = collapseRuns(w);
    if (w.length < minLength) return;
    if (this.stopWords?.has(w)) return;
    sink('word', w);
  }
}

/** Hosts of link shorteners: the link's real site is behind a redirect we do not follow. */
const SHORTENERS: ReadonlySet<string> = new Set([
  't.co',
  'bit.ly',
  'ow.ly',
  'goo.gl',
  'tinyurl.com',
  'buff.ly',
  'dlvr.it',
  'fb.me',
  'ift.tt',
  'is.gd',
  'j.mp',
  'tiny.cc',
  'trib.al',
  'lnkd.in',
  'wp.me',
]);

/** "T.co/abc" host part -> "t.co": lower case, no "www."/"m." prefix, no trailing dots or dashes. */
function urlHost(raw: string): string {
  let end = raw.length;
  while (end > 0) {
    const c = raw.charCodeAt(end - 1);
    if (c !== 0x2e && c !== 0x2d) break;
    end--;
  }
  let h = (end === raw.length ? raw : raw.slice(0, end)).toLowerCase();
  if (h.startsWith('www.')) h = h.slice(4);
  else if (h.startsWith('m.') && h.length > 2) h = h.slice(2);
  return h;
}

function positiveInt(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1)
    throw new RangeError(`tokenizer: ${name} must be an integer >= 1, got ${v}`);
  return v;
}

const defaultTokenizer = new Tokenizer();

/** Tokenizes `text` with the default options, or with `opts`. */
export function tokenize(text: string, opts?: TokenizerOptions): TokenizeResult {
  return (opts === undefined ? defaultTokenizer : new Tokenizer(opts)).tokenize(text);
}

/**
 * The content terms of `text` (the `text` of each token, in order, repeats kept), normalised
 * exactly as the default embedder sees them. For per-cluster term counts.
 */
export function contentTerms(text: string, opts?: TokenizerOptions): string[] {
  return (opts === undefined ? defaultTokenizer : new Tokenizer(opts)).contentTerms(text);
}
