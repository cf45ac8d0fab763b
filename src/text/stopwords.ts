/**
 * Stop words, written in the form the tokenizer produces: NFKC, lower case, apostrophes
 * removed ("don't" -> "dont"), a trailing possessive "'s" dropped ("it's" -> "it") and French
 * elisions dropped ("c'est" -> "est"). See tokenizer.ts for those rules.
 *
 * The default set is the union of all lists below. A word that is a function word in one
 * language but a content word in English is left out of the union on purpose, because most
 * of the stream is English and those words carry news: German "war" (was), "die" (the),
 * "man" (one), "hat" (has); French and Spanish "son" (his / are); Spanish "sin" (without);
 * Portuguese "os" (the).
 */

function words(list: string): ReadonlySet<string> {
  return new Set(
    list
      .trim()
      .split(/\s+/u)
      .map((w) => w.normalize('NFKC')),
  );
}

/** English function words, contraction forms included (the tokenizer joins "don't" to "dont"). */
export const STOP_WORDS_EN: ReadonlySet<string> = words(`
  a about above after again against all almost also although always am among an and another any
  anyone anything are around as at be because been before being below between both but by can
  cannot could did do does doing done down during each either else ever every few for from further
  get gets getting got had has have having he her here hers herself him himself his how however
  i if in into is it its itself just least less let like lot many may me might mine more most much
  must my myself neither no nor not now of off often on once one only or other others our ours
  ourselves out over own per quite rather really same shall she should since so some someone
  something still such than that the their theirs them themselves then there these they this those
  though through thus to too toward towards under until up upon us very was we well were what
  whatever when where whether which while who whom whose why will with within without would yet
  you your yours yourself yourselves
  dont doesnt didnt cant couldnt wont wouldnt shouldnt isnt arent wasnt werent havent hasnt hadnt
  mustnt im ive youre youve youll youd theyre theyve theyll weve were hes shes thats theres whats
  lets aint gonna wanna gotta ya yeah ok okay oh lol rt amp via ve ll
`);

/** Spanish: articles, prepositions, pronouns, the commonest forms of ser/estar/haber. */
export const STOP_WORDS_ES: ReadonlySet<string> = words(`
  el la los las lo un una unos unas y o u e ni pero sino que de del al a en con por para sin sobre
  entre hasta desde hacia según se su sus mi mis tu tus nuestro nuestra nuestros nuestras yo tú él
  ella ellos ellas nosotros vosotros usted ustedes le les me te nos os es son era fue ser está
  están estaba estar ha han había hay muy más menos ya también como cuando donde porque si no este
  esta estos estas ese esa esos esas eso esto aquí allí todo todos toda todas otro otra
`);

/** French: articles, prepositions, pronouns, être/avoir forms, and the words left by elision. */
export const STOP_WORDS_FR: ReadonlySet<string> = words(`
  le la les un une des du de au aux et ou mais donc or ni car que qui quoi dont où ce cet cette ces
  mon ma mes ton ta tes son sa ses notre nos votre vos leur leurs je tu il elle on nous vous ils elles
  me te se lui eux en y ne pas plus moins très trop aussi bien dans par pour sur sous avec sans
  chez entre vers est sont était été être ai as avons avez ont avait avoir fait faire comme si
  tout tous toute toutes même ça cela ceci
`);

/** German: articles, prepositions, pronouns, sein/haben/werden forms. */
export const STOP_WORDS_DE: ReadonlySet<string> = words(`
  der die das den dem des ein eine einer eines einem einen und oder aber doch sondern denn dass ob
  wenn als wie wo was wer ich du er sie es wir ihr mich dich sich uns euch mir dir ihm ihn ihnen
  mein dein sein ihr unser euer nicht kein keine auch noch schon nur sehr so zu zum zur im ins am
  an auf aus bei mit nach von vor für über unter um durch gegen ohne bis ist sind bin bist seid war waren man hat
  wird werden wurde wurden hatte hatten haben habe hast gibt diese dieser dieses diesen
`);

/** Portuguese: articles, contractions (do, na, pelo...), pronouns, ser/estar/ter forms. */
export const STOP_WORDS_PT: ReadonlySet<string> = words(`
  o a os as um uma uns umas e ou mas que de do da dos das em no na nos nas ao aos à às por pelo
  pela pelos pelas para com sem sobre entre até desde se seu sua seus suas meu minha meus minhas
  eu tu ele ela eles elas nós vós você vocês lhe lhes me te é são era foi ser está estão estava
  estar tem têm ter há não sim muito mais menos já também como quando onde porque isso isto esse
  essa este esta aquele aquela todo todos toda todas outro outra
`);

/**
 * Japanese particles and copulas, Chinese function characters: the tokens Intl.Segmenter most
 * often returns that say nothing about the story.
 */
export const STOP_WORDS_CJK: ReadonlySet<string> = words(`
  の に は を が で と も へ や か ね よ な だ た て し です ます でした から まで より こと これ それ
  的 了 是 在 和 与 及 就 都 也 这 那 着 过 吗 呢 吧
`);

/** Content words in English that some other list would remove (see the file comment). */
const KEEP_FOR_ENGLISH = ['war', 'die', 'man', 'hat', 'son', 'sin', 'os'];

/** The default stop-word set: every list above, minus `KEEP_FOR_ENGLISH`. */
export const DEFAULT_STOP_WORDS: ReadonlySet<string> = (() => {
  const all = new Set<string>();
  for (const list of [
    STOP_WORDS_EN,
    STOP_WORDS_ES,
    STOP_WORDS_FR,
    STOP_WORDS_DE,
    STOP_WORDS_PT,
    STOP_WORDS_CJK,
  ]) {
    for (const w of list) all.add(w);
  }
  for (const w of KEEP_FOR_ENGLISH) all.delete(w);
  return all;
})();
