/**
 * Generates samples/stream.jsonl, the synthetic tweet stream that ships with birdie:
 *
 *   node --import tsx scripts/make-sample.ts
 *
 * 12 invented news stories (places, people, brands and accounts are all made up) plus about 5%
 * unrelated chatter, over six hours. Every tweet carries its `story` so that `birdie cluster
 * --label-field story` can score the clustering. The output depends only on SEED: the same bytes
 * on every run and every machine (test/cli/sample.test.ts checks the committed file).
 *
 * What a tweet tokenizer meets in real streams is here on purpose: hashtags (some CamelCase),
 * @mentions, t.co and news links, `RT @user:` copies of earlier tweets, emoji (including ZWJ
 * sequences), numbers, elongated words ("sooo"), shouting, and posts in Spanish, French, German
 * and Japanese about the same stories.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { mulberry32 } from '../src/birch/random.js';

const SEED = 20260314;
/** 13:00 UTC on the day of the stream; stories burst at different minutes within SPAN_MINUTES. */
const START_MS = Date.UTC(2026, 2, 14, 13, 0, 0);
const SPAN_MINUTES = 360;
const NOISE_TWEETS = 20;
const RETWEET_SHARE = 0.18;
const OFFICIAL_SHARE = 0.15;

export interface SampleTweet {
  id: string;
  text: string;
  created_at: string;
  user: string;
  lang: string;
  story: string;
}

class Rng {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  float(): number {
    return this.next();
  }
  /** Integer in [lo, hi], both included. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }
}

type Slot = readonly string[] | ((r: Rng) => string);

interface Story {
  slug: string;
  /** Tweets about the story, retweets included. */
  size: number;
  /** Minute the burst starts, minutes it takes to build up, mean minutes of its decay. */
  onset: number;
  ramp: number;
  decay: number;
  templates: readonly string[];
  /** Exactly one original tweet per entry, [lang, template]. */
  foreign: readonly (readonly [string, string])[];
  slots: Record<string, Slot>;
  hashtags: readonly string[];
  emoji: readonly string[];
  /** Accounts of the story: mentioned by others, and tweeting news with a link. */
  accounts: readonly string[];
  domain: string;
}

const num =
  (lo: number, hi: number, step = 1) =>
  (r: Rng): string =>
    String(r.int(Math.ceil(lo / step), Math.floor(hi / step)) * step);
const dec =
  (lo: number, hi: number) =>
  (r: Rng): string =>
    (r.int(lo * 10, hi * 10) / 10).toFixed(1);
const grouped =
  (lo: number, hi: number, step: number) =>
  (r: Rng): string =>
    String(r.int(lo / step, hi / step) * step).replace(/\B(?=(\d{3})+$)/g, ','); // 12800 -> 12,800, ICU-free

const STORIES: readonly Story[] = [
  {
    slug: 'storm-orla',
    size: 48,
    onset: 15,
    ramp: 20,
    decay: 90,
    templates: [
      'Storm Orla has made landfall near {place} with winds of {wind} km/h {e}',
      'BREAKING: Storm Orla makes landfall at {place}, gusts up to {wind} km/h reported',
      'Power is out across {district} after Orla came ashore. Stay safe everyone',
      '{elong:so} much rain in {place} right now, the street outside is a river {e}',
      'Evacuation shelters open at {shelter}. Bring water, meds and phone chargers',
      'Storm surge in {place} is {surge} metres above normal, the harbour is flooded {e}',
      'Trees down all along {street}. Please do not drive tonight',
      'Orla downgraded to a tropical storm but the flooding in {district} keeps getting worse',
      'Just lost power. {elong:no}. Anyone else in {district}?',
      'Thinking of everyone in {place} tonight {e}',
      'Wind is howling, windows rattling, {wind} km/h they said. {place} hang in there',
    ],
    foreign: [
      ['es', 'La tormenta Orla toca tierra cerca de {place} con vientos de {wind} km/h {e}'],
      ['fr', 'La tempête Orla a touché terre à {place}, des milliers de foyers sans électricité'],
      ['ja', '嵐オルラが{place}に上陸、最大瞬間風速{wind}キロ {e}'],
    ],
    slots: {
      place: ['Port Ardency', 'Ardency', 'Ardency Point'],
      district: ['Lowmarket', 'Gull Quay', 'Eastshore', 'the Old Harbour'],
      wind: num(140, 185, 5),
      surge: dec(2, 4),
      shelter: ['Ardency Civic Hall', "St Brennan's school", 'the Eastshore sports centre'],
      street: ['Harbour Road', 'Quay Street', 'Calder Avenue'],
    },
    hashtags: ['#StormOrla', '#Orla', '#PortArdency', '#ArdencyStorm', '#hurricane'],
    emoji: ['🌀', '🌊', '🌧️', '⚡', '🙏'],
    accounts: ['ArdencyHerald', 'ArdencyEM', 'CoastWeatherSvc'],
    domain: 'ardencyherald.example',
  },
  {
    slug: 'velmont-transit-strike',
    size: 34,
    onset: 0,
    ramp: 25,
    decay: 70,
    templates: [
      'Velmont metro workers walked out at {clock}, no trains on the {lines} lines today {e}',
      'Day {day} of the #VelmontStrike and my commute is now {mins} minutes on foot',
      'Union says the metro strike goes on until Velmont agrees to a {pct}% pay rise',
      'Buses are {elong:so} packed because of the metro strike, could not even get on {e}',
      'Velmont Transit: only {pct}% of services running during the strike',
      'Full solidarity with the Velmont transit workers ✊',
      'Anyone sharing a ride from {station} to downtown? metro strike again {e}',
      'Talks between the union and Velmont Transit broke down overnight, the strike is on',
      '{station} station closed, gates down, nobody told us about the strike {e}',
    ],
    foreign: [
      ['de', 'Streik in Velmont: heute keine U-Bahn, die Busse sind völlig überfüllt {e}'],
      ['es', 'Huelga del metro en Velmont, solo el {pct}% de los servicios funciona hoy'],
    ],
    slots: {
      clock: ['4am', '5am', 'midnight'],
      lines: ['Red and Blue', 'Green', 'Orange and Green'],
      day: num(1, 3),
      mins: num(40, 95, 5),
      pct: num(15, 40, 5),
      station: ['Kingsgate', 'Fernhill', 'Velmont Central', 'Mill Lane'],
    },
    hashtags: ['#VelmontStrike', '#MetroStrike', '#velmont', '#TransitStrike'],
    emoji: ['🚇', '🚌', '😤', '🚶'],
    accounts: ['VelmontTransit', 'TransitUnion88', 'VelmontPost'],
    domain: 'velmontpost.example',
  },
  {
    slug: 'kestrel-cup-final',
    size: 42,
    onset: 190,
    ramp: 110,
    decay: 20,
    templates: [
      'GOAL!!! {player} puts {team} ahead in the Kestrel Cup final {e}',
      '{elong:what} a save by the Rovers keeper!! still {score}',
      'Half time in the final: Harrowgate Rovers {score} Deepwater Athletic',
      'Penalty to {team}!!! {e}',
      '{team} ARE CHAMPIONS!!! {elong:yes} {e}',
      'Kick off at Lanford Stadium, {crowd} fans inside for the Kestrel Cup final',
      'No way that was offside, VAR ruining the final again',
      'Red card for {player}, {team} down to ten men {e}',
      'Extra time in the Kestrel Cup final, my nerves cannot take this',
    ],
    foreign: [
      ['es', '¡GOL! {player} marca en la final de la Kestrel Cup {e}'],
      ['fr', 'Quelle finale ! {team} remporte la Kestrel Cup {e}'],
    ],
    slots: {
      player: ['Mateo Lind', 'Sam Achterberg', 'Kofi Renner', 'Dario Belt'],
      team: ['Rovers', 'Deepwater', 'Harrowgate Rovers', 'Deepwater Athletic'],
      score: ['1-0', '1-1', '2-1', '0-0'],
      crowd: grouped(58000, 64000, 500),
    },
    hashtags: ['#KestrelCupFinal', '#KestrelCup', '#COYR', '#Rovers', '#DeepwaterAthletic'],
    emoji: ['⚽', '🏆', '🔥', '😱', '🙌'],
    accounts: ['KestrelCup', 'HarrowgateRovers', 'DeepwaterAFC'],
    domain: 'matchdaywire.example',
  },
  {
    slug: 'lumen-fold-launch',
    size: 28,
    onset: 95,
    ramp: 10,
    decay: 45,
    templates: [
      'Novacore just announced the Lumen Fold 3: {usd}, ships {date} {e}',
      'The Lumen Fold 3 hinge looks {elong:so} much better than last year',
      'Battery on the Lumen Fold 3 is {mah} mAh, finally',
      '{usd} for a phone?? no thanks Novacore',
      'Hands on with the Lumen Fold 3: lighter, brighter, still expensive {e}',
      'Lumen Fold 3 pre-orders sold out in {mins} minutes??',
      'Novacore keynote was mostly about the AI camera tbh',
      'The new Novacore foldable weighs {grams} g, that is lighter than my current phone {e}',
    ],
    foreign: [
      ['ja', 'Novacoreの新しいLumen Fold 3、価格は{price}ドル {e}'],
      ['de', 'Das neue Lumen Fold 3 von Novacore kostet {priceDe} Dollar, ziemlich teuer'],
    ],
    slots: {
      price: ['1,299', '1,399', '1,499'],
      usd: ['$1,299', '$1,399', '$1,499'],
      priceDe: ['1.299', '1.399', '1.499'],
      date: ['April 3', 'next Friday', 'in two weeks'],
      mah: num(5000, 5600, 100),
      mins: num(3, 20),
      grams: num(212, 239),
    },
    hashtags: ['#LumenFold3', '#NovacoreEvent', '#Novacore', '#tech'],
    emoji: ['📱', '✨', '💸', '🤯'],
    accounts: ['Novacore', 'GadgetLedger'],
    domain: 'gadgetledger.example',
  },
  {
    slug: 'cinder-ridge-wildfire',
    size: 36,
    onset: 140,
    ramp: 30,
    decay: 110,
    templates: [
      'The Cinder Ridge fire has grown to {acres} acres, {pct}% contained {e}',
      'Evacuation order for {zone} in Alder Springs, leave now',
      'Smoke is {elong:so} thick in Alder Springs you cannot see the hills {e}',
      'Firefighters holding the line at {road} tonight, thank you 🙏',
      'Air quality index at {aqi} in Alder Springs, stay inside',
      'Shelter for evacuated animals open at the Alder Springs fairground',
      'The sky over Alder Springs is orange at noon {e}',
      'Ash falling like snow on {road}, the Cinder Ridge fire is close',
    ],
    foreign: [
      ['es', 'Incendio de Cinder Ridge: evacuación en Alder Springs, ya {acresEs} acres quemados'],
      ['fr', "Incendie de Cinder Ridge : le ciel d'Alder Springs est orange {e}"],
    ],
    slots: {
      acres: grouped(4200, 12800, 100),
      acresEs: (r) => grouped(4200, 12800, 100)(r).replace(',', '.'),
      pct: num(0, 35, 5),
      zone: ['Zone 3', 'Zone 4', 'the Pine Hollow area'],
      road: ['Route 9', 'Ridgeback Road', 'the county road'],
      aqi: num(180, 320),
    },
    hashtags: ['#CinderRidgeFire', '#AlderSprings', '#wildfire', '#CinderRidge'],
    emoji: ['🔥', '🚒', '😷', '🧡'],
    accounts: ['AlderSpringsFD', 'RidgeCountyOES', 'AlderSpringsNews'],
    domain: 'alderspringsnews.example',
  },
  {
    slug: 'governor-debate',
    size: 32,
    onset: 275,
    ramp: 60,
    decay: 20,
    templates: [
      'Brisk vs Quill: the governor debate starts in {mins} minutes {e}',
      'Quill just dodged the housing question {elong:again}',
      "Brisk: 'we will build {homes} homes by 2030' #DebateNight",
      "Fact check: Quill's claim about {topic} is misleading",
      'Who won the debate tonight, Brisk or Quill? {e}',
      'The moderator cut Brisk off {times} times, come on',
      'Snap poll after the debate: Brisk {pct}%, Quill {pct2}%',
      'Quill and Brisk finally agree on something: {topic} {e}',
    ],
    foreign: [
      ['fr', 'Débat Brisk contre Quill : qui a gagné ce soir ? {e}'],
      ['de', 'TV-Duell Brisk gegen Quill: Umfrage sieht Brisk bei {pct} Prozent'],
    ],
    slots: {
      mins: num(5, 30, 5),
      homes: grouped(20000, 90000, 5000),
      topic: ['taxes', 'the budget', 'transit funding', 'water rates'],
      times: num(3, 9),
      pct: num(44, 55),
      pct2: num(38, 48),
    },
    hashtags: ['#GovDebate', '#DebateNight', '#BriskQuill', '#Election2026'],
    emoji: ['🗳️', '🎤', '🤔', '📊'],
    accounts: ['StateDebateHQ', 'IlonaBrisk', 'TobiasQuill'],
    domain: 'statehousedaily.example',
  },
  {
    slug: 'kessaro-earthquake',
    size: 30,
    onset: 165,
    ramp: 2,
    decay: 35,
    templates: [
      'Magnitude {mag} earthquake hits near Kessaro Bay, depth {depth} km {e}',
      'That was a BIG one. Whole building in {district} shaking for {secs} seconds',
      'Aftershock just now in Kessaro, felt it strongly {e}',
      'No tsunami warning after the Kessaro Bay quake, says the seismic service',
      'Cracks in the {building} after the earthquake, area closed off',
      'Everyone ok?? {elong:so} scary, books fell everywhere {e}',
      'Another aftershock, magnitude {after}. Kessaro Bay please stay out of old buildings',
    ],
    foreign: [
      ['ja', 'ケッサロ湾でM{mag}の地震、揺れが{secs}秒続いた {e}'],
      ['es', 'Sismo de magnitud {mag} cerca de Kessaro Bay, se sintió muy fuerte'],
    ],
    slots: {
      mag: ['6.4', '6.3', '6.4'],
      after: dec(4.1, 5.2),
      depth: num(10, 22),
      secs: num(15, 40),
      district: ['Old Town', 'the port district', 'Hillcrest'],
      building: ['old library', 'Bay Street bridge', 'market hall'],
    },
    hashtags: ['#KessaroQuake', '#earthquake', '#KessaroBay', '#sismo'],
    emoji: ['🌍', '😨', '🏚️', '🙏'],
    accounts: ['KessaroSeismic', 'KessaroCity', 'QuakeWatchNet'],
    domain: 'quakewatch.example',
  },
  {
    slug: 'saltmarsh-festival',
    size: 26,
    onset: 300,
    ramp: 30,
    decay: 25,
    templates: [
      'Neon Heron closing night at Saltmarsh Sound was {elong:so} good {e}',
      'Queue for the Saltmarsh Sound main stage is {mins} minutes long',
      'Lost my friends at Saltmarsh, meet at {landmark}?',
      'Saltmarsh Sound day {day}: {act}, {act2} and Neon Heron',
      'Sunset set by {act} on the Dune Stage 🌅',
      '{price} euros for a drink at the festival is wild',
    ],
    foreign: [
      ['de', 'Saltmarsh Sound war mega, Neon Heron als Headliner {e}'],
      ['fr', 'Trop bien le concert de Neon Heron au Saltmarsh Sound {e}'],
    ],
    slots: {
      mins: num(30, 90, 10),
      landmark: ['the big windmill', 'the Dune Stage', 'the food trucks'],
      day: num(2, 3),
      act: ['Velvet Compass', 'Lowtide Choir', 'Mira and the Mapmakers'],
      act2: ['Paper Gulls', 'Static Orchard'],
      price: num(9, 14),
    },
    hashtags: ['#SaltmarshSound', '#SaltmarshSound2026', '#festival', '#NeonHeron'],
    emoji: ['🎶', '🎸', '🎉', '💃'],
    accounts: ['SaltmarshSound', 'NeonHeronMusic'],
    domain: 'stagefront.example',
  },
  {
    slug: 'tallyway-breach',
    size: 24,
    onset: 60,
    ramp: 15,
    decay: 80,
    templates: [
      'Tallyway confirms a data breach affecting {millions} million accounts {e}',
      'Just got the Tallyway email. Change your password and turn on 2FA',
      'Attackers got names, emails and the last 4 digits of cards from Tallyway',
      'How did Tallyway store passwords?? {elong:wow}',
      'Tallyway says the breach started {days} days ago and was only found this week',
      'Deleting my Tallyway account today {e}',
    ],
    foreign: [
      ['es', 'Filtración en Tallyway: {millonesEs} millones de cuentas afectadas, cambien su contraseña'],
      ['ja', 'Tallywayで約{man}万件のアカウント情報が流出 {e}'],
    ],
    slots: {
      millions: dec(3.8, 4.6),
      millonesEs: (r) => dec(3.8, 4.6)(r).replace('.', ','),
      man: num(380, 460, 10),
      days: num(9, 21),
    },
    hashtags: ['#TallywayBreach', '#databreach', '#infosec', '#Tallyway'],
    emoji: ['🔓', '🔐', '💳', '😬'],
    accounts: ['Tallyway', 'TallywaySupport', 'BreachLedger'],
    domain: 'breachledger.example',
  },
  {
    slug: 'aster7-launch',
    size: 28,
    onset: 225,
    ramp: 20,
    decay: 20,
    templates: [
      "Liftoff! Skyloom's Aster-7 is on its way with the Halcyon lander {e}",
      'T-minus {mins} minutes to the Aster-7 launch from Cape Orrin',
      'Booster landed on the drone ship {elong:again}!! {e}',
      'Weather at Cape Orrin looking {elong:so} bad, is Aster-7 going to scrub?',
      'Halcyon separation confirmed, next stop the Moon 🌕',
      'Max Q reached, all good on Aster-7 {e}',
    ],
    foreign: [
      ['fr', 'Décollage réussi pour Aster-7 de Skyloom, direction la Lune {e}'],
      ['de', 'Start geglückt: Aster-7 bringt den Lander Halcyon zum Mond {e}'],
    ],
    slots: {
      mins: num(2, 30),
    },
    hashtags: ['#Aster7', '#SkyloomLaunch', '#Halcyon', '#space'],
    emoji: ['🚀', '🌕', '🛰️', '✨'],
    accounts: ['Skyloom', 'CapeOrrinSpace', 'OrbitDesk'],
    domain: 'orbitdesk.example',
  },
  {
    slug: 'brightwater-marathon',
    size: 24,
    onset: 30,
    ramp: 120,
    decay: 30,
    templates: [
      'Elin Varga wins the Brightwater Marathon in {time}, a new course record {e}',
      'Mile {mile} of the Brightwater Marathon and my legs are {elong:so} done',
      'Cheering at {corner} for the Brightwater runners 📣',
      '{runners} runners at the start line in Brightwater this morning {e}',
      'Road closures for the marathon: {road} shut until 3pm',
      'Finished my first marathon!!! {time2} {e}',
    ],
    foreign: [
      ['es', 'Elin Varga gana el maratón de Brightwater con récord del circuito, {time} {e}'],
      ['ja', 'ブライトウォーター・マラソンでエリン・ヴァルガが大会新記録 {e}'],
    ],
    slots: {
      time: ['2:19:42', '2:19:42', '2:19:43'],
      time2: (r) =>
        `${r.int(3, 5)}:${String(r.int(0, 59)).padStart(2, '0')}:${String(r.int(0, 59)).padStart(2, '0')}`,
      mile: num(14, 25),
      corner: ["Heron's Corner", 'the river bridge', 'mile 20'],
      runners: grouped(18000, 26000, 1000),
      road: ['Riverside Drive', 'Canal Street', 'the Esplanade'],
    },
    hashtags: ['#BrightwaterMarathon', '#marathon', '#running', '#BWM2026'],
    emoji: ['🏃‍♀️', '🏅', '💪', '👟'],
    accounts: ['BrightwaterMara', 'RunBrightwater'],
    domain: 'brightwatergazette.example',
  },
  {
    slug: 'dunmore-heatwave',
    size: 28,
    onset: 100,
    ramp: 60,
    decay: 150,
    templates: [
      'It is {temp}°C in Dunmore today, hottest day on record {e}',
      'Cooling centres open at {venue} in Dunmore until 10pm',
      '{elong:so} hot I cannot sleep, Dunmore at night is an oven {e}',
      'Heat alert extended: Dunmore stays above {temp}°C through the weekend',
      'Check on your older neighbours in this heat please 💧',
      'Trains slowed down because the rails are buckling in the Dunmore heat',
    ],
    foreign: [
      ['fr', "Canicule à Dunmore : {temp}°C aujourd'hui, du jamais vu {e}"],
      ['de', 'Hitzewelle in Dunmore, {temp} Grad und kein Ende in Sicht {e}'],
    ],
    slots: {
      temp: num(39, 42),
      venue: ['the Dunmore library', 'Westgate community centre', 'the old corn exchange'],
    },
    hashtags: ['#DunmoreHeat', '#heatwave', '#Dunmore', '#StayCool'],
    emoji: ['🥵', '☀️', '🌡️', '💧'],
    accounts: ['DunmoreCouncil', 'DunmoreWeather'],
    domain: 'dunmorechronicle.example',
  },
];

/** Everyday posts about nothing in the news: the 'noise' story. */
const NOISE_TEMPLATES: readonly string[] = [
  'cant believe its {weekday} already {e}',
  'coffee number {n} of the day ☕',
  'my cat just knocked {thing} off the table {elong:again} 😭',
  'anyone watching the new season of {show}?',
  'new blog post: {title} {url}',
  'gm ☀️',
  '{elong:so} tired today',
  'lunch: {food}. 10/10 {e}',
  'just finished {book}, highly recommend',
  'who else is still in pyjamas at {clock}',
];
const NOISE_SLOTS: Record<string, Slot> = {
  weekday: ['Saturday', 'the weekend', 'March'],
  n: num(2, 5),
  thing: ['a glass', 'my keys', 'a plant'],
  show: ['Harbor Lights', 'The Quiet Lab', 'Midnight Bakers'],
  title: ['ten tips for sourdough', 'why I switched to a split keyboard', 'my spring garden plan'],
  food: ['ramen', 'a huge salad', 'leftover pizza'],
  book: ['The Glass Orchard', 'Salt and Signal'],
  clock: ['2pm', '3pm', 'noon'],
};
const NOISE_EMOJI = ['😂', '😴', '🍜', '📚', '🐱'];
const NOISE_FOREIGN: readonly (readonly [string, string])[] = [['es', 'Hoy no tengo ganas de nada 😴']];

const FIRST = ['sky', 'river', 'maple', 'pixel', 'coastal', 'night', 'urban', 'quiet', 'lucky', 'retro'];
const SECOND = ['fox', 'runner', 'owl', 'reader', 'cook', 'walker', 'fan', 'panda', 'rider', 'watcher'];

function makeUsers(r: Rng, count: number): string[] {
  const users = new Set<string>();
  while (users.size < count) {
    let name = r.pick(FIRST) + (r.chance(0.4) ? '_' : '') + r.pick(SECOND);
    if (r.chance(0.6)) name += r.int(1, 99);
    if (r.chance(0.2)) name = name[0].toUpperCase() + name.slice(1);
    users.add(name);
  }
  return [...users];
}

const ALNUM = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

function shortLink(r: Rng): string {
  let code = '';
  for (let i = 0; i < 10; i++) code += ALNUM[r.int(0, ALNUM.length - 1)];
  return `https://t.co/${code}`;
}

/** "so" -> "sooo": the last letter repeated 2-5 more times, or left as it is. */
function elongate(r: Rng, word: string): string {
  if (r.chance(0.35)) return word;
  return word + word[word.length - 1].repeat(r.int(2, 5));
}

function fill(r: Rng, template: string, slots: Record<string, Slot>, emoji: readonly string[]): string {
  return template.replace(/\{(\w+)(?::(\w+))?\}/g, (_, key: string, arg: string | undefined) => {
    if (key === 'e') return r.pick(emoji);
    if (key === 'elong') return elongate(r, arg!);
    if (key === 'url') return shortLink(r);
    const slot = slots[key];
    if (slot === undefined) throw new Error(`template slot {${key}} has no values: ${template}`);
    return typeof slot === 'function' ? slot(r) : r.pick(slot);
  });
}

function slugOf(text: string): string {
  const words = text
    .toLowerCase()
    .replace(/[^a-z0-9 ]+/g, ' ')
    .split(' ')
    .filter((w) => w.length > 2);
  return words.slice(0, 6).join('-');
}

/** Hashtags, mentions, links and casing around an English text, as people add them. */
function decorate(r: Rng, text: string, story: Story, users: readonly string[]): string {
  if (r.chance(0.15)) text = `@${r.chance(0.6) ? r.pick(story.accounts) : r.pick(users)} ${text}`;
  const tags = r.chance(0.65) ? r.int(1, 3) : 0;
  const used = new Set<string>();
  for (let k = 0; k < tags; k++) {
    const tag = r.pick(story.hashtags);
    if (used.has(tag) || text.includes(tag)) continue;
    used.add(tag);
    text += ` ${r.chance(0.15) ? tag.toLowerCase() : tag}`;
  }
  if (r.chance(0.08)) text += ` cc @${r.pick(story.accounts)}`;
  if (r.chance(0.25)) text += ` ${shortLink(r)}`;
  if (r.chance(0.2)) text += ` ${r.pick(story.emoji)}`;
  const shout = r.float();
  if (shout < 0.05) text = text.toLowerCase();
  else if (shout < 0.08) text = text.toUpperCase().replace(/HTTPS:\/\/T\.CO\/\w+/g, () => shortLink(r));
  return text;
}

/** Templates a news desk or an official account could post: no first person, no questions, no "sooo". */
function isHeadline(template: string): boolean {
  return !/\{elong|\b(my|I|me|us|we)\b|\?|!!|anyone|tbh|come on|just lost|thinking of/i.test(template);
}

interface Draft {
  minute: number;
  text: string;
  user: string;
  lang: string;
  story: string;
}

/** A burst: build-up over `ramp` minutes, then exponential decay; resampled until inside the span. */
function burstMinute(r: Rng, onset: number, ramp: number, decay: number): number {
  for (;;) {
    const m = onset + ramp * r.float() + decay * -Math.log(1 - r.float());
    if (m < SPAN_MINUTES) return m;
  }
}

function storyDrafts(r: Rng, story: Story, users: readonly string[]): Draft[] {
  const minutes: number[] = [];
  for (let k = 0; k < story.size; k++) minutes.push(burstMinute(r, story.onset, story.ramp, story.decay));
  minutes.sort((x, y) => x - y);

  // Which tweets are retweets, which are in another language: decided first, so that every
  // foreign template is used exactly once on an original (never the story's first tweet).
  const isRetweet = minutes.map((_, k) => k > 1 && r.chance(RETWEET_SHARE));
  const originals = minutes.map((_, k) => k).filter((k) => k > 0 && !isRetweet[k]);
  const foreignAt = new Map<number, readonly [string, string]>();
  for (const entry of story.foreign) {
    let k: number;
    do k = r.pick(originals);
    while (foreignAt.has(k));
    foreignAt.set(k, entry);
  }

  const drafts: Draft[] = [];
  for (let k = 0; k < minutes.length; k++) {
    const minute = minutes[k];
    if (isRetweet[k]) {
      // News accounts get retweeted more than anyone.
      const official = drafts.filter((d) => story.accounts.includes(d.user));
      const source = official.length > 0 && r.chance(0.5) ? r.pick(official) : r.pick(drafts);
      const body = source.text.startsWith('RT @') ? source.text.replace(/^RT @\w+: /, '') : source.text;
      const sourceUser = source.text.startsWith('RT @')
        ? source.text.slice(4, source.text.indexOf(':'))
        : source.user;
      let user = r.pick(users);
      while (user === sourceUser) user = r.pick(users);
      let text = `RT @${sourceUser}: ${body}`;
      if ([...text].length > 140) text = `${[...text].slice(0, 139).join('')}…`;
      drafts.push({ minute, text, user, lang: source.lang, story: story.slug });
      continue;
    }
    const foreign = foreignAt.get(k);
    if (foreign !== undefined) {
      let text = fill(r, foreign[1], story.slots, story.emoji);
      if (r.chance(0.7)) text += ` ${r.pick(story.hashtags)}`;
      drafts.push({ minute, text, user: r.pick(users), lang: foreign[0], story: story.slug });
      continue;
    }
    if (r.chance(OFFICIAL_SHARE)) {
      const base = fill(r, r.pick(story.templates.filter(isHeadline)), story.slots, story.emoji);
      const link = `https://www.${story.domain}/2026/03/14/${slugOf(base)}`;
      const text = `${base.replace(/\s+\S*\p{Extended_Pictographic}\S*$/u, '')} ${link} ${r.pick(story.hashtags)}`;
      drafts.push({ minute, text, user: r.pick(story.accounts), lang: 'en', story: story.slug });
      continue;
    }
    const base = fill(r, r.pick(story.templates), story.slots, story.emoji);
    drafts.push({
      minute,
      text: decorate(r, base, story, users),
      user: r.pick(users),
      lang: 'en',
      story: story.slug,
    });
  }
  return drafts;
}

function noiseDrafts(r: Rng, users: readonly string[]): Draft[] {
  const drafts: Draft[] = [];
  for (let k = 0; k < NOISE_TWEETS; k++) {
    const minute = r.float() * SPAN_MINUTES;
    const user = r.pick(users);
    if (k < NOISE_FOREIGN.length) {
      const [lang, text] = NOISE_FOREIGN[k];
      drafts.push({ minute, text, user, lang, story: 'noise' });
      continue;
    }
    let text = fill(r, r.pick(NOISE_TEMPLATES), NOISE_SLOTS, NOISE_EMOJI);
    if (r.chance(0.15)) text += ` #${r.pick(['MondayMood', 'coffee', 'catsoftwitter', 'amreading'])}`;
    drafts.push({ minute, text, user, lang: 'en', story: 'noise' });
  }
  return drafts;
}

/** Twitter-style snowflake: milliseconds since the Twitter epoch in the high bits, a sequence below. */
function snowflake(ms: number, seq: number): string {
  return ((BigInt(ms - 1288834974657) << 22n) | BigInt(seq & 0xfff)).toString();
}

/** The whole sample, one JSON object a line, sorted by time, with a trailing newline. */
export function generateSample(): string {
  const r = new Rng(SEED);
  const users = makeUsers(r, 140);
  const drafts: Draft[] = [];
  for (const story of STORIES) drafts.push(...storyDrafts(r, story, users));
  drafts.push(...noiseDrafts(r, users));
  // Stable sort: a retweet never lands before its source, which precedes it within its story.
  drafts.sort((a, b) => a.minute - b.minute);

  const lines: string[] = [];
  let lastSecond = -1;
  for (let k = 0; k < drafts.length; k++) {
    const d = drafts[k];
    // Whole seconds, strictly increasing.
    const second = Math.max(Math.floor(d.minute * 60), lastSecond + 1);
    lastSecond = second;
    const ms = START_MS + second * 1000;
    const tweet: SampleTweet = {
      id: snowflake(ms, k),
      text: d.text,
      created_at: new Date(ms).toISOString().replace(/\.000Z$/, 'Z'),
      user: d.user,
      lang: d.lang,
      story: d.story,
    };
    lines.push(JSON.stringify(tweet));
  }
  return `${lines.join('\n')}\n`;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const out = join(import.meta.dirname, '..', 'samples', 'stream.jsonl');
  const text = generateSample();
  writeFileSync(out, text);
  process.stdout.write(`wrote ${out}: ${text.split('\n').length - 1} tweets\n`);
}
