import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  contentTerms,
  DEFAULT_STOP_WORDS,
  STOP_WORDS_EN,
  type Token,
  Tokenizer,
  type TokenKind,
  tokenize,
} from '../../src/text/index.js';

function kinds(text: string, opts?: ConstructorParameters<typeof Tokenizer>[0]): string[] {
  return tokenize(text, opts).tokens.map((t) => `${t.kind}:${t.text}`);
}

function ofKind(text: string, kind: TokenKind): string[] {
  return tokenize(text)
    .tokens.filter((t) => t.kind === kind)
    .map((t) => t.text);
}

test('plain words: case folded, stop words and 1-letter words dropped', () => {
  assert.deepEqual(kinds('The Storm is hitting a Coastal town'), [
    'word:storm',
    'word:hitting',
    'word:coastal',
    'word:town',
  ]);
});

test('URLs become their host, without www. or m., whatever the path', () => {
  assert.deepEqual(ofKind('a https://nyti.ms.example/AbC123 and http://CNN.com/zzz9 here', 'url'), [
    'nyti.ms.example',
    'cnn.com',
  ]);
  // link shorteners carry no content: no token at all
  assert.deepEqual(ofKind('a https://t.co/AbC123 and http://bit.ly/zzz9 here', 'url'), []);
  assert.deepEqual(ofKind('see www.NYTimes.com/2012/10/29/story.html, now', 'url'), ['nytimes.com']);
  assert.deepEqual(ofKind('https://www.bbc.co.uk/news?x=1#frag', 'url'), ['bbc.co.uk']);
  assert.deepEqual(ofKind('http://m.youtube.com/watch?v=abc', 'url'), ['youtube.com']);
  assert.deepEqual(ofKind('HTTP://Example.ORG.', 'url'), ['example.org']);
  // The path never leaks into words.
  assert.deepEqual(kinds('https://cnn.com/storyword'), ['url:cnn.com']);
  assert.deepEqual(kinds('https://t.co/storyword'), []);
  // A truncated link (end of a cut-off retweet) has no host and gives nothing.
  assert.deepEqual(kinds('http://… https://'), []);
});

test('mentions are kept with @, lower case; an e-mail address is not a mention', () => {
  assert.deepEqual(kinds('thanks @FEMA and @Red_Cross'), [
    'word:thanks',
    'mention:@fema',
    'mention:@red_cross',
  ]);
  assert.deepEqual(ofKind('write to john@example.com', 'mention'), []);
});

test('hashtags: kept whole and split into words at camelCase, acronyms, digits, underscores', () => {
  assert.deepEqual(kinds('#HurricaneSandy'), ['hashtag:#hurricanesandy', 'word:hurricane', 'word:sandy']);
  assert.deepEqual(kinds('#NYCFlood'), ['hashtag:#nycflood', 'word:nyc', 'word:flood']);
  assert.deepEqual(kinds('#Sandy2012'), ['hashtag:#sandy2012', 'word:sandy', 'number:2012']);
  assert.deepEqual(kinds('#pray_for_boston'), ['hashtag:#pray_for_boston', 'word:pray', 'word:boston']);
  assert.deepEqual(kinds('#BREAKING'), ['hashtag:#breaking', 'word:breaking']);
  // Stop words among the parts go; the hashtag itself stays.
  assert.deepEqual(kinds('#PrayForTheVictims'), ['hashtag:#prayforthevictims', 'word:pray', 'word:victims']);
  // Without splitting only the hashtag is left.
  assert.deepEqual(kinds('#HurricaneSandy', { splitHashtags: false }), ['hashtag:#hurricanesandy']);
  // Digits only is not a hashtag (as on Twitter); "C#" is not one either.
  assert.deepEqual(kinds('#2012'), ['number:2012']);
  assert.deepEqual(ofKind('I code C# daily', 'hashtag'), []);
  // Non-Latin hashtags.
  assert.deepEqual(kinds('#МоскваСити'), ['hashtag:#москвасити', 'word:москва', 'word:сити']);
});

test('emoji: one token per pictograph, ZWJ sequences, flags and keycaps whole; skin tone dropped', () => {
  assert.deepEqual(ofKind('fire 🔥🔥 scary 😱', 'emoji'), ['🔥', '🔥', '😱']);
  assert.deepEqual(ofKind('family 👨‍👩‍👧 rainbow 🏳️‍🌈', 'emoji'), ['👨‍👩‍👧', '🏳‍🌈']);
  assert.deepEqual(ofKind('go 🇺🇸🇬🇧 and 🏴󠁧󠁢󠁥󠁮󠁧󠁿', 'emoji'), ['🇺🇸', '🇬🇧', '🏴󠁧󠁢󠁥󠁮󠁧󠁿']);
  assert.deepEqual(ofKind('👍🏽 👍🏿 👍 ❤️ ❤', 'emoji'), ['👍', '👍', '👍', '❤', '❤']);
  assert.deepEqual(ofKind('1️⃣ first', 'emoji'), ['1⃣']);
  const family = ofKind('👩‍❤️‍👨', 'emoji');
  assert.equal(family.length, 1);
});

test('retweet marker dropped and reported; "via @user" dropped without making a retweet', () => {
  const rt = tokenize('RT @CNN: Storm hits coast');
  assert.equal(rt.retweet, true);
  assert.deepEqual(
    rt.tokens.map((t) => t.text),
    ['storm', 'hits', 'coast'],
  );
  const chain = tokenize('RT @a: RT @b_2: Storm hits coast');
  assert.equal(chain.retweet, true);
  assert.deepEqual(chain.tokens, rt.tokens);
  assert.equal(tokenize('MT @someone: storm').retweet, true);
  const via = tokenize('Storm hits coast via @AP');
  assert.equal(via.retweet, false);
  assert.deepEqual(via.tokens, rt.tokens);
  assert.equal(tokenize('Storm hits coast').retweet, false);
  // "RT" later in the text is not a marker, and "RT" without a user is only a (stop) word.
  assert.equal(tokenize('great point RT @bob: yes').retweet, false);
  assert.equal(tokenize('RTs are fun').retweet, false);
});

test('elongation: runs of 3+ identical letters collapse to 2, digits untouched', () => {
  assert.deepEqual(kinds('soooo goooood GOOOAAAL'), ['word:soo', 'word:good', 'word:gooaal']);
  assert.deepEqual(kinds('coffee is good'), ['word:coffee', 'word:good']);
  assert.deepEqual(kinds('1000000 dead'), ['number:1000000', 'word:dead']);
  assert.deepEqual(ofKind('#Sooooo', 'hashtag'), ['#soo']);
});

test('numbers: digits, inner separators kept; single digits below the minimum length', () => {
  assert.deepEqual(ofKind('7.1 quake, 1,000 dead at 12:30 on 29 Oct, 5 missing', 'number'), [
    '7.1',
    '1,000',
    '12:30',
    '29',
  ]);
  assert.deepEqual(ofKind('٢٠١٢', 'number'), ['٢٠١٢']);
  // Letters and digits together are a word.
  assert.deepEqual(ofKind('covid19 and 4g', 'word'), ['covid19', '4g']);
});

test('apostrophes: contractions joined, possessive and French elision dropped', () => {
  assert.deepEqual(
    kinds("obama's rock'n'roll c'mon l'homme d'accord qu'il", { stopWords: false }).map((k) => k.slice(5)),
    ['obama', 'rocknroll', 'cmon', 'homme', 'accord', 'il'],
  );
  assert.deepEqual(kinds("don't dont", { stopWords: false }), ['word:dont', 'word:dont']);
  assert.deepEqual(kinds('don’t', { stopWords: false }), ['word:dont']);
  assert.deepEqual(kinds("don't I'm it's"), []);
});

test('Chinese and Japanese are split by Intl.Segmenter; single characters kept', () => {
  const zh = ofKind('北京发生地震', 'word');
  assert.ok(zh.length >= 2, `expected several words, got ${JSON.stringify(zh)}`);
  assert.equal(zh.join(''), '北京发生地震');
  assert.ok(zh.includes('北京'));
  const ja = ofKind('東京で地震が発生しました', 'word');
  assert.ok(ja.includes('東京') && ja.includes('地震'), JSON.stringify(ja));
  // Particles are stop words.
  assert.ok(!ja.includes('で') && !ja.includes('が'));
  // With stop words off a one-character word survives (minLengthCjk 1).
  assert.ok(kinds('東京で地震', { stopWords: false }).includes('word:で'));
  // Mixed with Latin: the Latin part is a word of its own.
  assert.deepEqual(ofKind('iPhone発売', 'word'), ['iphone', '発売']);
  // Hashtags in CJK are split the same way.
  assert.deepEqual(kinds('#東京地震'), ['hashtag:#東京地震', 'word:東京', 'word:地震']);
});

test('Thai is split by Intl.Segmenter', () => {
  const th = ofKind('ภาษาไทยง่ายนิดเดียว', 'word');
  assert.ok(th.length >= 3, JSON.stringify(th));
  assert.equal(th.join(''), 'ภาษาไทยง่ายนิดเดียว');
  assert.ok(th.includes('ภาษา'));
});

test('Arabic, Cyrillic, Greek, Hebrew, Devanagari words come through whole', () => {
  assert.deepEqual(ofKind('Привет, МИР! как дела', 'word'), ['привет', 'мир', 'как', 'дела']);
  assert.deepEqual(ofKind('مرحبا بالعالم', 'word'), ['مرحبا', 'بالعالم']);
  assert.deepEqual(ofKind('Καλημέρα κόσμε', 'word'), ['καλημέρα', 'κόσμε']);
  assert.deepEqual(ofKind('שלום עולם', 'word'), ['שלום', 'עולם']);
  assert.deepEqual(ofKind('नमस्ते दुनिया', 'word'), ['नमस्ते', 'दुनिया']);
});

test('NFKC: fullwidth letters and digits, ligatures, circled digits; entities decoded', () => {
  assert.deepEqual(kinds('ＨＵＲＲＩＣＡＮＥ　ＳＡＮＤＹ ２０１２'), [
    'word:hurricane',
    'word:sandy',
    'number:2012',
  ]);
  assert.deepEqual(kinds('ﬁnal'), ['word:final']);
  assert.deepEqual(kinds('＃Ｓａｎｄｙ ＠ＦＥＭＡ'), ['hashtag:#sandy', 'word:sandy', 'mention:@fema']);
  assert.deepEqual(kinds('Salt &amp; pepper &lt;3'), ['word:salt', 'word:pepper']);
  // Composed and decomposed accents give one token.
  assert.deepEqual(kinds('caf\u00e9'), kinds('cafe\u0301'));
});

test('case folding does not depend on the locale (dotted capital I)', () => {
  assert.deepEqual(kinds('İSTANBUL'), [`word:${'İSTANBUL'.normalize('NFKC').toLowerCase()}`]);
  assert.deepEqual(kinds('ISTANBUL'), ['word:istanbul']);
});

test('stop words: default, off, custom; other languages; English content words kept', () => {
  assert.deepEqual(kinds('the storm'), ['word:storm']);
  assert.deepEqual(kinds('the storm', { stopWords: false }), ['word:the', 'word:storm']);
  assert.deepEqual(kinds('the storm', { stopWords: new Set(['storm']) }), ['word:the']);
  assert.deepEqual(ofKind('el huracán de la costa', 'word'), ['huracán', 'costa']);
  assert.deepEqual(ofKind("c'est la tempête sur les côtes", 'word'), ['tempête', 'côtes']);
  assert.deepEqual(ofKind('der Sturm ist über den Küsten', 'word'), ['sturm', 'küsten']);
  assert.deepEqual(ofKind('a tempestade na costa do Brasil', 'word'), ['tempestade', 'costa', 'brasil']);
  // Function words elsewhere, news in English.
  assert.deepEqual(ofKind('war', 'word'), ['war']);
  assert.deepEqual(ofKind('people die', 'word'), ['people', 'die']);
  assert.ok(STOP_WORDS_EN.size >= 150, `English list has ${STOP_WORDS_EN.size} words`);
  assert.ok(DEFAULT_STOP_WORDS.has('dont') && DEFAULT_STOP_WORDS.has('und'));
});

test('minimum lengths are options and validated', () => {
  assert.deepEqual(kinds('go to NY', { stopWords: false, minLength: 3 }), []);
  assert.deepEqual(kinds('a b', { stopWords: false, minLength: 1 }), ['word:a', 'word:b']);
  assert.ok(!kinds('東京で', { stopWords: false, minLengthCjk: 2 }).includes('word:で'));
  assert.throws(() => new Tokenizer({ minLength: 0 }), /minLength/);
  assert.throws(() => new Tokenizer({ minLengthCjk: 1.5 }), /minLengthCjk/);
});

test('scan gives the same tokens as tokenize and is reentrant', () => {
  const t = new Tokenizer();
  const text = 'RT @x: #StormWatch 🔥 storm hits https://t.co/q 2012 東京';
  const seen: Token[] = [];
  const inner: string[][] = [];
  const retweet = t.scan(text, (kind, s) => {
    seen.push({ kind, text: s });
    inner.push(t.contentTerms('nested text here'));
  });
  const ref = t.tokenize(text);
  assert.equal(retweet, ref.retweet);
  assert.deepEqual(seen, ref.tokens);
  for (const terms of inner) assert.deepEqual(terms, ['nested', 'text']);
  assert.deepEqual(
    contentTerms(text),
    ref.tokens.map((x) => x.text),
  );
});

test('property: tokenize never throws; tokens are non-empty, folded, and stable under NFKC', () => {
  fc.assert(
    fc.property(
      fc.string({ unit: 'grapheme', maxLength: 80 }),
      fc.string({ unit: 'binary', maxLength: 40 }),
      (a, b) => {
        for (const text of [a, b, a + b, `RT @u: ${a} #${b}`]) {
          const { tokens } = tokenize(text);
          for (const tok of tokens) {
            assert.ok(tok.text.length > 0);
            if (tok.kind === 'word' || tok.kind === 'hashtag' || tok.kind === 'mention') {
              assert.equal(tok.text, tok.text.toLowerCase());
            }
          }
        }
      },
    ),
    { seed: 20121029, numRuns: 400 },
  );
});
