"""Hand-written rules: word-stem and phrase patterns that score moderation categories and prompt attacks.

Each rule is `(label, weight, pattern)`: when the pattern matches a normalised view of the text (see
`normalize.views`) the label scores at least `weight`. Patterns are built from stems and slot lists
(who is targeted, what act, which intent) rather than whole sentences, so that new phrasings of the
same request still match; `BENIGN_CONTEXT` patterns lower the score of the categories they name when
the text is plainly about something harmless ("kill a process", "shoot a photo", "history of ...").

This module knows nothing of thresholds or configuration: it only maps text to rule scores.
Run `python -m flywheel.safety.rules "some text"` to see which rules fire.
"""

from __future__ import annotations

import functools
import re
import sys

# ---- slot lists (alternations, no capture groups) -----------------------------------------------
ASK = (r"(?:how (?:do|can|could|would|should|might|to|does one|would one|does someone|would someone|could someone|do people|does a person)|tips (?:for|on|to)|how(?:'d| would) i|"
       r"what(?:'s| is| are) the (?:best|easiest|quickest|fastest|simplest|most effective|cheapest) (?:way|method)s?|"
       r"(?:best|easiest|quickest|fastest|simplest|good|effective|cheapest|surest) (?:way|method)s? to|"
       r"ways? to|steps? (?:to|for)|guide (?:to|for|on)|tutorial|instructions? (?:for|on|to)|recipe for|"
       r"teach me|show me|tell me how|explain how (?:i|to)|help me|walk me through|give me|i (?:want|need|wanna|would like) to|"
       r"i'?m (?:going|gonna|planning) to|i (?:plan|intend) to|let'?s|can you|could you|write (?:me )?(?:a|an|the)?|"
       r"detailed|step[- ]by[- ]step|in detail)")
I_WANT = (r"(?:i (?:want|need|wanna|would like|plan|intend|will|have to|must|gotta)|i'(?:d like|ll)|"
          r"i(?:'m| am|m) (?:finally |really |just |seriously |definitely )?(?:going|gonna|planning|about|ready|trying|determined|desperate)(?: to)?|i'?ll)")
PERSON = (r"(?:someone|somebody|anyone|people|person|persons|him|her|them|everyone|a (?:man|woman|guy|girl|boy|kid|child|baby|cop|stranger)|"
          r"(?:my|his|her|their|our|the|a|that) (?:\w+ )?(?:wife|husband|ex|girlfriend|boyfriend|partner|boss|manager|coworker|co-worker|"
          r"colleague|neighbou?r|teacher|classmate|roommate|landlord|mother|father|mom|dad|mum|brother|sister|son|daughter|"
          r"family|baby|kid|child|children|friend|uncle|aunt|cousin|grandma|grandpa|bully|rival|enemy|ex-wife|ex-husband|"
          r"doctor|nurse|judge|cop|officer|president|senator|mayor|politician|ceo|journalist|victim|witness|student|"
          r"students|crowd|guard|guy|girl|man|woman|stranger|customer|employee|tenant|pastor|priest|imam|rabbi)s?|"
          r"(?:a|the) (?:president|senator|politician|police officer|cop|judge|crowd|school|church|mosque|synagogue|concert)|"
          r"my ex|police officers|cops|children|kids|students|civilians|protesters|worshippers|shoppers|commuters|"
          r"jews|muslims|christians|immigrants|refugees|migrants|black people|white people|gay people|gays|trans people)")
PERSON_OBJ = PERSON + r"(?!\s*(?:process|processes|thread|threads|node|nodes|element|elements|widget|window|pid|task|tasks|job|jobs))"
HURT = (r"(?:kill|murder|stab|shoot|strangle|choke|poison|assassinate|torture|beat (?:up|to death)|hurt|harm|maim|"
        r"kidnap|abduct|behead|decapitate|dismember|drown|suffocate|smother|run over|burn alive|bludgeon|"
        r"slit (?:the |their |his |her )?throat|break (?:his|her|their|someone'?s) (?:legs?|arms?|neck|bones)|"
        r"injure|cripple|execute|lynch|hang|massacre|slaughter|attack|bomb|blow up|gas|disfigure|acid attack|"
        r"throw acid|set fire to|torch)")
GROUP = (r"(?:jews?|jewish people|muslims?|islam(?:ic people)?|christians?|hindus?|sikhs?|buddhists?|atheists?|"
         r"blacks?|black people|african americans?|africans?|whites?|white people|asians?|asian people|chinese( people)?|"
         r"japanese|koreans?|indians?|arabs?|mexicans?|latinos?|latinas?|hispanics?|immigrants?|refugees?|migrants?|"
         r"gypsies|roma|romani people|gays?|gay (?:people|men)|lesbians?|homosexuals?|bisexuals?|trans(?:gender)? (?:people|women|men)|"
         r"trannies|queers?|lgbtq?\+?(?: people)?|women|females|girls|men|disabled people|the disabled|autistic people|"
         r"retards|indigenous people|natives?|aboriginals?|irish|poles|polish people|russians?|ukrainians?|"
         r"palestinians?|israelis?|iranians?|pakistanis?|somalis?|nigerians?|haitians?|the elderly|old people)")
SUBHUMAN = (r"(?:subhuman|sub-human|vermin|animals|apes|monkeys|parasites|cockroaches|roaches|rats|pigs|dogs|"
            r"filth|filthy|disgusting|inferior|savages|savage|barbarians|a disease|a cancer|a plague|an infestation|"
            r"scum|trash|garbage|worthless|evil|stupid|dumb|genetically inferior|less than human|not (?:really )?human|"
            r"a virus|criminals|rapists|terrorists|pedophiles|degenerates|mentally ill|an abomination|abominations|"
            r"the problem|ruining (?:this|our|the) country|destroying (?:this|our|the) country|"
            r"(?:should|must|ought to|need to|deserve to) (?:be )?(?:die|killed|exterminated|eradicated|wiped out|gassed|"
            r"deported|removed|sterili[sz]ed|burned|shot|hanged|lynched|locked up|put down|eliminated|purged|banned from existing))")
EXTERMINATE = (r"(?:exterminat|eradicat|wipe out|wiping out|gas (?:the|all)|genocide against|ethnic(?:ally)? cleans|"
               r"kill (?:all|every|the) |death to (?:all |the )?|purge|final solution|race war|deport (?:all|every)|"
               r"lynch|hang (?:all|every|them)|round up (?:all|the)|burn (?:all|every|down (?:a|the|their) (?:mosque|synagogue|church|temple)))")
SLUR = (r"(?:n[i1!]gg(?:er|a|ah|ers|as|az)|f[a@]gg?(?:ot|ots|s)?\b|k[i1]kes?|sp[i1]cs?\b|ch[i1]nks?|wetbacks?|"
        r"tr[a@]nn(?:y|ies)|r[e3]t[a@]rds?|g[o0]{2}ks?|towelheads?|raghead|sandn[i1]gg|beaners?|coons?\b|"
        r"dykes?|shemales?|paki\b|pakis\b|zipperheads?|jungle bunn|porch monkey)")
DRUG = (r"(?:meth(?:amphetamine)?|crystal meth|crack(?: cocaine)?|cocaine|heroin|fentanyl|carfentanil|lsd|mdma|ecstasy|"
        r"molly|ghb|ketamine|pcp|dmt|krokodil|desomorphine|opium|morphine|oxycodone|oxy|xanax|bath salts|"
        r"synthetic cannabinoids?|spice|k2|angel dust|mescaline|psilocybin|shrooms|hash oil|bho|dabs)")
MAKE = r"(?:make|making|cook|cooking|synthesi[sz]e|synthesi[sz]ing|produce|manufactur\w*|brew|extract|grow|create|prepare|build|building|construct|assemble|3d[- ]print|print|mix|get|buy|obtain|acquire|source|smuggle|sell|selling|distribut\w*|deal|traffic\w*)"
WEAPON = (r"(?:bomb|pipe bomb|nail bomb|car bomb|suicide vest|explosive|explosives|ied|improvised explosive|molotov|"
          r"grenade|napalm|thermite|c-?4|semtex|tnt|dynamite|detonator|blasting cap|tatp|anfo|fertili[sz]er bomb|"
          r"pressure cooker bomb|ghost gun|untraceable (?:gun|firearm|weapon)|zip gun|silencer|suppressor|"
          r"auto sear|bump stock|full[- ]auto|machine gun|automatic rifle|nerve agent|nerve gas|sarin|tabun|soman|vx|"
          r"novichok|mustard gas|chlorine gas|phosgene|ricin|abrin|anthrax|botulinum|botulism toxin|smallpox|plague|"
          r"bioweapon|biological weapon|chemical weapon|dirty bomb|nuclear (?:bomb|weapon|device)|weapons?[- ]grade|"
          r"enrich(?:ed)? uranium|radiological|poison gas|toxic gas|mail bomb|letter bomb|booby trap|landmine|flamethrower|"
          r"gun|firearm|rifle|ar-?15|weapon)")
HACK_TARGET = (r"(?:email|e-mail|gmail|account|accounts|instagram|facebook|snapchat|tiktok|twitter|whatsapp|icloud|phone|"
               r"iphone|webcam|camera|wifi|wi-fi|network|router|computer|laptop|server|database|bank|bank account|"
               r"website|school(?:'s)? (?:system|database|portal)|grades|crypto wallet|wallet)")
MALWARE = (r"(?:ransomware|keylogger|key logger|malware|virus|trojan|rootkit|botnet|spyware|stalkerware|worm|"
           r"rat\b|remote access trojan|credential stealer|info ?stealer|cryptojacker|backdoor|zero[- ]day exploit|"
           r"exploit kit|phishing (?:kit|page|site|email|e-mail|text|sms|message|link|campaign)|ddos (?:tool|script|attack)|"
           r"card skimmer|skimmer|carding)")
MINOR = (r"(?:child|children|kid|kids|minor|minors|underage|under-age|preteen|pre-teen|pubescent|prepubescent|"
         r"toddler|infant|baby|babies|little (?:girl|boy)s?|young (?:girl|boy)s?|schoolgirl|schoolboy|"
         r"(?:[1-9]|1[0-7]|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|"
         r"sixteen|seventeen)[- ](?:year|yr)s?[- ]old|(?:[1-9]|1[0-7]) ?(?:yo|y/o)\b|teen|teens|teenager|teenagers|"
         r"middle schooler|grade schooler|high schooler|loli|lolicon|shota|jailbait|teenage|teenaged|adolescents?|"
         r"(?:he|she|they)(?:'s| is| are) (?:only |just )?(?:[1-9]|1[0-7])\b|aged? (?:[1-9]|1[0-7])\b|"
         r"my (?:daughter|son|niece|nephew|stepdaughter|stepson|student|pupil)s?)")
SEXUAL = (r"(?:sex|sexual|sexually|sexy|nude|nudes|naked|porn|porno|pornographic|erotic|erotica|explicit|nsfw|lewd|"
          r"orgasm|masturbat|intercourse|genitals|genitalia|penis|vagina|breasts?|boobs|tits|nipples|cock|dick|pussy|"
          r"blowjob|blow job|handjob|oral sex|anal|cum|cumming|horny|aroused|arousing|fetish|bdsm|strip|stripping|"
          r"steamy|sensual|raunchy|racy|naughty|seduc\w*|molest\w*|fondl\w*|grope|groping|touch (?:her|him|them) (?:inappropriately|sexually)|"
          r"sext|sexting|onlyfans|hentai|smut|x-rated|xxx|kinky|make out|hook up|hookup|have sex|sleep with|"
          r"lingerie|bikini pics?|in (?:her|his) underwear)")

HURTS = (r"kill|murder|stab|strangl|chok|poison|shoot|shot|ambush|tortur|beat (?:up|to death)|beat \w+ to death|punch|"
         r"maim|kidnap|abduct|assault|smother|suffocat|drown|behead|bludgeon|cripple|maul|slaughter|gun down|run (?:\w+ )?over")
PEOPLE = (r"someone|somebody|a (?:man|woman|guy|girl|boy|kid|child|baby|person|stranger)|people|him|her|them|"
          r"the other (?:driver|guy|person|man|woman|kid)|(?:my|his|her|their|our|the|that|this) (?:\w+ )?(?:wife|husband|ex|"
          r"girlfriend|boyfriend|partner|boss|manager|coworker|colleague|neighbou?r|teacher|classmate|roommate|landlord|"
          r"mother|father|mom|dad|brother|sister|son|daughter|uncle|aunt|cousin|stepfather|stepmother|stepdad|stepmom|"
          r"grandma|grandpa|grandmother|grandfather|friend|family|kid|child|baby|business partner|bully|rival|tenant|"
          r"student|customer|employee)s?|a crowd|crowds|civilians")
GROUP_SHORT = (r"jews?|jewish people|muslims?|blacks?|black people|asians?|chinese|mexicans?|indians?|arabs?|immigrants?|"
               r"gays?|gay people|lesbians?|trans (?:people|women|men)|women|girls|disabled people|the disabled|africans?|"
               r"latinos?|hispanics?|gypsies|roma|refugees?|migrants?")

RULES: list[tuple[str, float, str]] = [
    # ---- violence ---------------------------------------------------------------------------------
    ("violence", 0.9, rf"\b{ASK}\b[^.!?;\n]{{0,40}}?\b{HURT}\w*\b[^.!?;\n]{{0,25}}?\b{PERSON_OBJ}\b"),
    ("violence", 0.9, rf"\b{I_WANT}\b[^.!?;\n]{{0,30}}?\b{HURT}\w*\b[^.!?;\n]{{0,25}}?\b{PERSON_OBJ}\b"),
    ("violence", 0.85, r"\b(?:get away with|cover up|hide the evidence of|dispose of|get rid of) (?:a |the )?(?:murder|killing|body|corpse|dead body)\b"),
    ("violence", 0.85, r"\b(?:where|how) (?:to|do i|can i|should i) (?:hide|dispose of|get rid of|dissolve|bury) (?:a|the) (?:dead )?(?:body|bodies|corpse)"),
    ("violence", 0.85, r"\b(?:plan|planning|organi[sz]e|carry out|execute|commit|pull off|help me with) (?:a |an )?(?:mass shooting|school shooting|shooting at|massacre|terrorist attack|terror attack|attack on|stabbing spree|killing spree|bombing|murder|assassination|hit on)\b"),
    ("violence", 0.8, r"\b(?:hire|find|pay|contact) (?:a )?(?:hitman|hit man|assassin|contract killer|someone to (?:kill|hurt|beat|murder))"),
    ("violence", 0.8, r"\b(?:most|least) (?:painful|traceable|detectable) (?:way|method)s? to (?:kill|murder|hurt|torture|poison)\b"),
    ("violence", 0.8, r"\b(?:poison|drug|spike) (?:my|his|her|their|someone'?s|a) (?:\w+ )?(?:drink|food|coffee|tea|wife|husband|boss|neighbou?r|partner)"),
    ("violence", 0.75, r"\b(?:undetectable|untraceable|tasteless|odorless) poisons?\b"),
    ("violence", 0.8, r"\b(?:glorif|celebrat|prais)\w* (?:the )?(?:mass shooter|school shooter|shooting|massacre|terrorist attack|bombing|columbine|christchurch)"),
    ("violence", 0.7, r"\b(?:torture|torturing) (?:a |an |the |my )?(?:animal|animals|dog|cat|puppy|kitten|prisoner|person|someone|him|her|them)\b"),
    ("violence", 0.7, r"\b(?:how (?:to|do i|can i)|ways to) (?:start|incite|cause) (?:a )?(?:riot|stampede|massacre|violent uprising|lynching)"),
    ("violence", 0.75, r"\b(?:make|making) (?:it|a death|the death|the murder|a murder|a killing) (?:look like|seem like|appear to be) (?:an accident|suicide|natural causes)"),
    ("violence", 0.75, r"\b(?:swat|swatting) (?:someone|him|her|them|a streamer|my)\b"),
    # ---- violence/graphic -------------------------------------------------------------------------
    ("violence/graphic", 0.85, r"\b(?:describe|write|depict|detail|narrate|show)\b[^.!?;\n]{0,40}\b(?:gory|gruesome|graphic|bloody|grisly|visceral|brutal|disgusting|sickening)\b[^.!?;\n]{0,40}\b(?:detail|details|description|scene|death|murder|killing|torture|injur|wound|mutilat|dismember|execution|decapitat|behead|autopsy|violence)"),
    ("violence/graphic", 0.85, r"\b(?:in (?:gory|gruesome|graphic|sickening|excruciating|bloody) detail)"),
    ("violence/graphic", 0.8, r"\b(?:entrails|intestines|guts|brains|innards|eyeballs?) (?:spill|spilling|hanging|splatter|splattering|oozing|ripped|torn|gouged)"),
    ("violence/graphic", 0.8, r"\b(?:flay|flaying|skinn?ing|disembowel\w*|eviscerat\w*|gouge out|gouging out|peel\w* (?:the |his |her )?skin|rip\w* (?:out )?(?:his|her|their) (?:eyes|tongue|heart|guts|intestines|fingernails))"),
    ("violence/graphic", 0.75, r"\b(?:gore|snuff|beheading|execution|cartel|murder|dismemberment)\b (?:video|videos|footage|clip|clips|pics?|pictures?|photos?)"),
    # ---- harassment -------------------------------------------------------------------------------
    ("harassment", 0.85, r"\b(?:you(?: are|'re| r)|ur|he(?: is|'s)|she(?: is|'s)|they(?: are|'re)|you)\s+(?:such an? |a |an |so |nothing but an? |just an? |one )?(?:\w+ )?(?:fucking |stupid |worthless |pathetic |ugly |fat |disgusting )*(?:idiot|moron|retard|loser|worthless piece of|piece of shit|pos\b|bitch|slut|whore|cunt|asshole|dumbass|imbecile|waste of (?:space|oxygen|air)|failure|pathetic|worthless|disgusting|ugly|fat pig|pig|freak|subhuman|trash|garbage|scum)\b"),
    # Telling someone to end their life is harassment whatever the tone ("go kill yourself", "kys").
    ("harassment", 0.9, r"\b(?:(?:go|just|should|could|please|pls|plz)\s+)?(?:kill|hang|off|shoot|end)\s+(?:yourself|urself|yourselves|your\s+(?:own\s+)?life)\b(?![^.!?;\n]{0,20}\b(?:process|thread|session|task|job)\b)|\bkys\b"),
    ("harassment", 0.85, r"\b(?:write|draft|compose|craft|make|give|help me (?:write|come up with)|come up with)\b[^.!?;\n]{0,40}\b(?:insult|insults|roast|mean|cruel|nasty|humiliating|degrading|hateful|abusive|harassing|bullying|taunting|demeaning)\b[^.!?;\n]{0,40}\b(?:message|messages|text|texts|comment|comments|post|posts|email|note|letter|dm|dms|tweet|tweets|things to say|words|nickname|nicknames|jokes?)"),
    ("harassment", 0.8, r"\b(?:make|making) (?:him|her|them|my \w+|someone|a classmate|a coworker|this (?:girl|guy|kid))\b[^.!?;\n]{0,25}\b(?:cry|feel worthless|feel ugly|feel stupid|kill (?:him|her|them)sel(?:f|ves)|hate (?:him|her|them)sel(?:f|ves)|miserable|suffer|quit|leave (?:school|the team))\b"),
    ("harassment", 0.85, r"\b(?:bully|bullying|cyberbully\w*|harass|harassing|stalk|stalking|humiliate|humiliating|torment|tormenting|troll|trolling|shame|shaming|mock|mocking|intimidate|intimidating)\b[^.!?;\n]{0,20}\b(?:him|her|them|someone|my|a|this|that|the (?:new|fat|ugly|weird|quiet))\b"),
    ("harassment", 0.8, r"\b(?:dox|doxx|doxing|doxxing|find (?:out )?(?:the )?(?:home )?address of|find where (?:she|he|they) lives?|track (?:her|his|their|my \w+'?s?) (?:location|phone|car)|spy on (?:my|her|his|their))"),
    ("harassment", 0.8, r"\b(?:post|leak|share|spread|send)\b[^.!?;\n]{0,25}\b(?:nudes?|naked (?:pics|photos|pictures)|private (?:photos|pics|pictures)|revenge porn|rumou?rs?|lies|embarrassing (?:photos|pics|video|secrets?))\b[^.!?;\n]{0,25}\b(?:of|about)\b"),
    ("harassment", 0.75, r"\b(?:fat|ugly|stupid|dumb|retarded|worthless|useless|pathetic|disgusting)\b[^.!?;\n]{0,10}\b(?:bitch|slut|whore|cunt|loser|pig|cow|freak|idiot|moron)\b"),
    ("harassment", 0.75, r"\b(?:go (?:kill|hang|drown) yourself|kys\b|nobody (?:likes|loves|wants) you|everyone hates you|you should (?:just )?(?:die|disappear|not exist)|the world would be better without you)"),
    ("harassment", 0.7, r"\b(?:shut (?:the fuck|the hell)? ?up|fuck (?:you|off|u)\b|screw you|piss off)"),
    # ---- harassment/threatening -------------------------------------------------------------------
    ("harassment/threatening", 0.9, r"\b(?:i(?:'m| am)? (?:going to|gonna|will|'ll)|i'?ll|we(?:'re| are)? (?:going to|gonna|will)|we'?ll)\s+(?:\w+\s+){0,3}(?:kill|murder|hurt|find|stab|shoot|destroy|end|beat|break|burn|rape|make you (?:pay|suffer|regret))\s+(?:you|u|ya|your|him|her|them)\b"),
    ("harassment/threatening", 0.85, r"\b(?:you(?:'re| are) (?:dead|going to die|gonna die|next)|watch your back|i know where you (?:live|work|sleep)|your days are numbered|you won'?t (?:see|live to see) (?:tomorrow|another day)|sleep with one eye open|you'?ll regret (?:this|it)|i'?ll make you pay)"),
    ("harassment/threatening", 0.85, r"\b(?:write|draft|compose|send|craft)\b[^.!?;\n]{0,40}\b(?:threat|threats|threatening|death threat|death threats|intimidating|scary)\b[^.!?;\n]{0,20}\b(?:message|messages|letter|note|text|email|voicemail|dm)?"),
    ("harassment/threatening", 0.8, r"\b(?:threaten|threatening|scare|terrori[sz]e|intimidate)\b[^.!?;\n]{0,20}\b(?:him|her|them|my|someone|a witness|the witness|into)\b"),
    ("harassment/threatening", 0.75, r"\b(?:blackmail|extort|sextort)\w*\b"),
    # ---- hate -------------------------------------------------------------------------------------
    ("hate", 0.9, rf"\b{GROUP}\b (?:are|is|were|r|being|seem)\s+(?:all |just |nothing but |basically |a bunch of |naturally |inherently |genetically |such |so )*(?:\w+ )?{SUBHUMAN}"),
    ("hate", 0.9, rf"\b(?:all|most|every|those|these|the|dirty|filthy|fucking|stupid) {GROUP}\b[^.!?;\n]{{0,20}}\b(?:are|is) (?:all |just |such )?{SUBHUMAN}"),
    ("hate", 0.9, rf"\b{SLUR}"),
    ("hate", 0.85, rf"\b(?:write|make|tell|give|generate|create|draft|compose|come up with)\b[^.!?;\n]{{0,40}}\b(?:joke|jokes|essay|speech|post|article|poem|song|rant|argument|tweet|manifesto|propaganda|pamphlet|flyer|paragraph|story)\b[^.!?;\n]{{0,40}}\b(?:why|that|how|about how|arguing|proving|showing|saying|mocking|making fun of|ridiculing|against|hating|demeaning)\b[^.!?;\n]{{0,20}}\b{GROUP}\b"),
    ("hate", 0.85, r"\b(?:racist|sexist|homophobic|transphobic|antisemitic|anti-semitic|islamophobic|bigoted|xenophobic|hateful)\b[^.!?;\n]{0,15}\b(?:joke|jokes|slur|slurs|insult|insults|meme|memes|speech|essay|post|rant|song|poem|chant|comment|comments|names?|remarks?|propaganda|manifesto)"),
    ("hate", 0.85, r"\b(?:holocaust (?:never happened|is a (?:lie|hoax|myth)|was (?:a )?(?:hoax|fake|lie|exaggerated|fabricated))|(?:prove|argue|explain why|show that) the holocaust (?:was|is|never)|hitler (?:was right|did nothing wrong|had a point)|white (?:power|supremacy is|genocide is real)|great replacement is real|14 ?words|1488|heil hitler|sieg heil|gas the)"),
    ("hate", 0.85, rf"\b(?:why|prove that|explain why|argue that|is it true that)\b[^.!?;\n]{{0,15}}\b{GROUP}\b (?:are|is) (?:\w+ )?(?:inferior|less intelligent|stupider|dumber|subhuman|genetically inferior|naturally (?:violent|criminal|stupid)|more criminal|worse|evil|a threat|the problem|parasites|vermin)"),
    ("hate", 0.8, rf"\b{GROUP}\b (?:should not|shouldn'?t|don'?t deserve to|do not deserve to|must not) (?:be allowed to )?(?:vote|have rights|exist|work|marry|live here|be allowed|breed|have children|be citizens|be trusted)"),
    ("hate", 0.8, rf"\b(?:i hate|we hate|i despise|i can'?t stand|hate all|hate the|fuck(?:ing)? (?:the|all)) {GROUP}\b"),
    ("hate", 0.8, rf"\b(?:ban|deport|expel|segregate|sterili[sz]e|exclude) (?:all |the |every )?{GROUP}\b(?! (?:from )?(?:discrimination|violence))"),
    # ---- hate/threatening -------------------------------------------------------------------------
    ("hate/threatening", 0.9, rf"\b{EXTERMINATE}[^.!?;\n]{{0,35}}\b{GROUP}\b"),
    ("hate/threatening", 0.9, rf"\b{GROUP}\b[^.!?;\n]{{0,20}}\b(?:should|must|ought to|need to|deserve to|will|are going to) (?:all )?(?:be )?(?:die|killed|exterminated|eradicated|wiped out|gassed|shot|hanged|lynched|burned|put down|purged|slaughtered)"),
    ("hate/threatening", 0.85, rf"\b(?:{HURT}|attack|bomb|burn down|shoot up)\w*\b[^.!?;\n]{{0,20}}\b(?:a |the |some |local )?(?:mosque|synagogue|church|temple|gurdwara|gay bar|pride (?:parade|march|event)|refugee (?:center|centre|camp)|black church|jewish (?:school|center|centre))"),
    # ---- illicit ----------------------------------------------------------------------------------
    ("illicit", 0.9, rf"\b(?:{ASK}|{I_WANT})\b[^.!?;\n]{{0,30}}?\b{MAKE}\w*\b[^.!?;\n]{{0,20}}?\b{DRUG}\b"),
    ("illicit", 0.85, rf"\b(?:{MAKE}|cook|cooking|lab for|recipe for|synthesis of|synthesis route|precursors? for)\b[^.!?;\n]{{0,15}}\b(?:meth(?:amphetamine)?|crack|heroin|fentanyl|carfentanil|lsd|mdma|ghb|krokodil|desomorphine)\b(?! (?:addiction|overdose|crisis|epidemic|use disorder|withdrawal))"),
    ("illicit", 0.85, rf"\b(?:{ASK}|{I_WANT})\b[^.!?;\n]{{0,30}}?\b(?:hack|hacking|break into|get into|access|crack|brute[- ]force|take over|hijack|bypass the password (?:on|of)|log into|spy on|read)\b[^.!?;\n]{{0,20}}?\b(?:someone(?:'s| else'?s)|somebody'?s|my (?:ex|wife|husband|girlfriend|boyfriend|partner|boss|neighbou?r|coworker|friend|sister|brother|teacher|mom|dad)'?s?|(?:his|her|their|a|the|another person'?s|other people'?s|a stranger'?s|my school'?s|the school'?s|a company'?s|the company'?s|my employer'?s|the neighbou?r'?s|neighbou?r'?s|celebrity'?s?))\b[^.!?;\n]{{0,15}}?\b{HACK_TARGET}\b"),
    ("illicit", 0.85, rf"\b(?:write|code|create|build|make|develop|program|generate|give me|design|draft|deploy|spread|send)\b[^.!?;\n]{{0,30}}\b{MALWARE}"),
    ("illicit", 0.85, r"\b(?:launder|laundering) (?:money|cash|funds|the money|drug money|proceeds|bitcoin|crypto)"),
    ("illicit", 0.85, r"\b(?:counterfeit|fake|forged?|forging|forgery of|print (?:my own|fake))\b[^.!?;\n]{0,10}\b(?:money|bills|cash|currency|dollars|euros|passport|passports|id|ids|id card|driver'?s licen[cs]e|documents|diploma|prescription|prescriptions|checks|cheques|vaccine card|social security card|banknotes|notes)\b"),
    ("illicit", 0.8, r"\b(?:how (?:to|do i|can i|could i)|ways? to|tips (?:for|on|to)|best way to|help me|teach me to|i want to|easiest way to)\b[^.!?;\n]{0,20}\b(?:shoplift|steal|rob|burgle|burglari[sz]e|break into|pickpocket|hotwire|carjack|mug|embezzle|defraud|scam|con|swindle|evade (?:taxes|tax|the police|police|arrest)|dodge taxes|smuggle|traffic|poach|catfish|skim|kite checks|commit (?:fraud|insurance fraud|tax fraud|identity theft|arson|a crime)|get away with (?:fraud|stealing|theft|shoplifting|arson|tax evasion)|cheat on (?:my |the )?(?:taxes|exam|test)|bribe|sell (?:stolen|drugs|weed|counterfeit|fake)|buy (?:drugs|stolen|a stolen|guns? without|an unregistered|illegal|fake|cocaine|heroin|meth|fentanyl)|fence stolen|break (?:a|the) (?:car )?window to)\b"),
    ("illicit", 0.8, r"\b(?:steal|stealing|steals|clone|cloning|skim|skimming|phish|phishing for|harvest\w*|grab\w*|captur\w*|sniff\w*|exfiltrat\w*|buy|sell|use)\b[^.!?;\n]{0,15}\b(?:credit card(?:s| numbers| details| info)?|card numbers|cvvs?|fullz|identit(?:y|ies)|social security numbers?|ssns?|passwords|credentials|login details|bank details|someone'?s identity)\b(?! (?:safe|secure|from theft))"),
    ("illicit", 0.8, r"\b(?:identity theft|insurance fraud|tax fraud|wire fraud|credit card fraud|welfare fraud|ponzi scheme|pyramid scheme|pump and dump|insider trading|money mule|sim swap(?:ping)?|check kiting|romance scam|tech support scam|elder fraud|scam (?:old|elderly) people|scam (?:the )?elderly)\b"),
    ("illicit", 0.8, r"\b(?:dark ?web|darknet|silk road|onion) (?:market|markets|site|sites|vendor|vendors|link|links)\b[^.!?;\n]{0,30}\b(?:buy|drugs|guns|cards|sell)?"),
    ("illicit", 0.8, r"\b(?:bypass|defeat|disable|get around|evade|avoid|beat|fool|trick)\b[^.!?;\n]{0,15}\b(?:breathalyzer|drug test|piss test|urine test|ankle monitor|security cameras?|store security|anti-theft|alarm system|metal detector|airport security|tsa|customs|border patrol|police checkpoints?|speed cameras?|license plate readers?|kyc|aml checks)"),
    ("illicit", 0.75, r"\b(?:pick|picking|open|bump)\b[^.!?;\n]{0,10}\b(?:lock|locks|door)\b[^.!?;\n]{0,25}\b(?:not mine|isn'?t mine|my neighbou?r'?s?|someone else'?s|without (?:them|the owner|anyone) knowing|to (?:get in|break in|steal|rob))"),
    ("illicit", 0.75, r"\b(?:sql injection|xss|exploit|payload|reverse shell|privilege escalation)\b[^.!?;\n]{0,30}\b(?:against|on|into|to (?:hack|break into|take down|steal from)) (?:a |the |my )?(?:real|live|production|school|bank|government|company|target|victim|someone|their|his|her|website i don'?t own|site i don'?t own)"),
    ("illicit", 0.75, r"\b(?:take down|knock offline|crash|ddos|dos)\b[^.!?;\n]{0,20}\b(?:website|site|server|network|game server)\b[^.!?;\n]{0,20}\b(?:of (?:my|a|the)|i don'?t like|competitor|rival|school|ex)"),
    ("illicit", 0.75, r"\b(?:pirate|pirated|torrent|crack(?:ed)?|keygen|bypass (?:the )?drm|remove (?:the )?drm|serial key)\b[^.!?;\n]{0,20}\b(?:software|movies?|films?|games?|windows|photoshop|adobe|office|netflix|spotify|textbooks?|license)"),
    ("illicit", 0.75, r"\b(?:unlicensed|illegal|black market|unregistered|without a (?:license|background check|prescription))\b[^.!?;\n]{0,15}\b(?:gun|guns|firearm|firearms|pistol|rifle|weapon|weapons|prescription|oxycodone|adderall|xanax|drugs|pills|organs?|kidney)"),
    ("illicit", 0.7, r"\b(?:human trafficking|traffic (?:girls|women|people|children|migrants)|sell (?:a |my )?(?:kidney|organs?|child|baby|girls|women)|buy (?:a |an )?(?:kidney|organ|child|baby|wife|slave))"),
    ("illicit", 0.7, r"\b(?:grow|growing|cultivate|cultivating)\b[^.!?;\n]{0,15}\b(?:weed|cannabis|marijuana|magic mushrooms|shrooms|psilocybin|opium poppies|coca)\b[^.!?;\n]{0,25}\b(?:sell|selling|without (?:getting caught|the police)|hidden|hide|undetected|indoors secretly)"),
    # ---- illicit/violent --------------------------------------------------------------------------
    ("illicit/violent", 0.9, rf"\b(?:{ASK}|{I_WANT})\b[^.!?;\n]{{0,30}}?\b{MAKE}\b[^.!?;\n]{{0,25}}?\b{WEAPON}s?\b(?! (?:safety|safe storage|laws?|control|violence research|license|licence|permit|range|club|cleaning|maintenance|emoji))"),
    ("illicit/violent", 0.9, r"\b(?:synthes|make|produce|weaponi[sz]e|cultivate|culture|grow|aerosoli[sz]e|enrich|disperse|release|deploy)\w*\b[^.!?;\n]{0,25}\b(?:sarin|tabun|soman|vx|novichok|mustard gas|nerve agent|ricin|abrin|anthrax|botulinum|smallpox|plague bacteria|ebola|bioweapon|biological weapon|chemical weapon|dirty bomb|nuclear (?:bomb|weapon|device)|weapons?[- ]grade|uranium|plutonium|pathogen|toxin|chlorine gas|phosgene|poison gas|toxic gas)"),
    ("illicit/violent", 0.9, r"\b(?:build|make|making|assemble|construct|detonate|plant|set off|wire|rig|place|hide|smuggle|buy|acquire|get|order)\w*\b[^.!?;\n]{0,20}?\b(?:a |an |the |some |homemade |home-made )?(?:pipe bomb|nail bomb|car bomb|suicide vest|ied|improvised explosive|molotov|grenade|napalm|detonator|blasting cap|tatp|anfo|fertili[sz]er bomb|pressure cooker bomb|mail bomb|letter bomb|bomb|explosive device|explosives|booby trap|landmine)s?\b"),
    ("illicit/violent", 0.85, r"\b(?:convert|modify|turn)\b[^.!?;\n]{0,30}\b(?:full[- ]auto|fully automatic|automatic|machine gun|auto sear|select fire)"),
    ("illicit/violent", 0.85, r"\b(?:ghost gun|untraceable (?:gun|firearm|weapon)|3d[- ]printed (?:gun|firearm|pistol)|zip gun|homemade (?:gun|firearm|silencer|suppressor)|file off (?:the )?serial number|remove (?:the )?serial number)"),
    ("illicit/violent", 0.8, r"\b(?:how much|how many|what amount of|what quantity of|which)\b[^.!?;\n]{0,25}\b(?:explosive|explosives|tnt|c-?4|semtex|fertili[sz]er|ammonium nitrate|gunpowder|black powder)\b[^.!?;\n]{0,30}\b(?:to (?:blow up|destroy|level|bring down|kill)|needed to|would it take to) "),
    ("illicit/violent", 0.8, r"\b(?:(?:join|recruit (?:for|people into)|fund|support|donate to|fight for) (?:isis|isil|al[- ]qaeda|al[- ]shabaab|boko haram|hamas'?s? military wing|hezbollah|the taliban|a terrorist (?:group|organi[sz]ation|cell))|terrorist (?:recruitment|propaganda)|recruit (?:people )?(?:for|to) (?:jihad|a militia|terror))"),
    ("illicit/violent", 0.8, r"\b(?:(?:start|spread|cause|release)\w* (?:a )?(?:pandemic|epidemic|outbreak|plague) (?:on purpose|deliberately|intentionally))|\b(?:poison|contaminate)\w* (?:the |a |our |their |my )?(?:city(?:'s)? )?(?:water supply|reservoir|food supply|water system)"),
    ("illicit/violent", 0.8, rf"\b(?:{ASK})\b[^.!?;\n]{{0,30}}\b(?:sabotage|derail|crash|disable|destroy|blow up|attack)\b[^.!?;\n]{{0,20}}\b(?:a |the )?(?:train|plane|airplane|aircraft|power grid|power plant|substation|pipeline|dam|bridge|brakes|car brakes|nuclear plant|water treatment|gas line|gas main)"),
    ("illicit/violent", 0.75, r"\b(?:arson|set (?:fire to|on fire)|burn down)\b[^.!?;\n]{0,25}\b(?:house|home|car|building|school|store|office|apartment|business|property|church|mosque|synagogue)\b"),
    # ---- self-harm --------------------------------------------------------------------------------
    ("self-harm/intent", 0.9, rf"\b{I_WANT}\b[^.!?;\n]{{0,15}}?\b(?:kill myself|end (?:it all|my life|my own life|things|it)|die|commit suicide|take my (?:own )?life|hurt myself|harm myself|cut myself|cut again|overdose|od|starve myself|disappear forever|disappear for good|not (?:be here|exist|wake up))\b"),
    ("self-harm/intent", 0.9, r"\b(?:i(?:'m| am) (?:going to|gonna|planning to|ready to|about to|thinking (?:of|about)|considering) (?:kill(?:ing)? myself|end(?:ing)? (?:it|my life|things)|suicide|commit(?:ting)? suicide|jump(?:ing)? off|overdos(?:e|ing)|hang(?:ing)? myself|cut(?:ting)? myself|hurt(?:ing)? myself|slit(?:ting)? my wrists))"),
    ("self-harm/intent", 0.85, r"\b(?:i (?:don'?t|do not) want to (?:live|be alive|exist|wake up)|i wish i (?:was|were) dead|i wish i (?:could|would) (?:die|disappear|not wake up)|life is(?:n'?t| not) worth living|no reason (?:for me )?to live|better off (?:dead|without me)|i have (?:nothing|no reason) (?:left )?to live for|i can'?t (?:go on|do this anymore|take (?:it|this) anymore)|this is my (?:suicide|goodbye) note|wrote my (?:suicide|goodbye) note|tonight is the night i)"),
    ("self-harm/intent", 0.8, r"\b(?:i(?:'ve| have)? (?:been )?(?:cutting|burning|hurting|starving|punching) myself|i cut myself|i (?:relapsed|keep relapsing)(?: on (?:cutting|self[- ]harm))?|i(?:'ve| have) (?:stockpiled|saved up|collected|been saving) (?:pills|my pills|meds|medication))"),
    ("self-harm/instructions", 0.9, rf"\b(?:{ASK}|which|what|how many|how much)\b[^.!?;\n]{{0,40}}\b(?:kill (?:myself|yourself|oneself)|commit suicide|suicide method|end (?:my|your|one'?s) (?:own )?life(?! insurance| cover| policy)|take (?:my|your|one'?s) (?:own )?life|die (?:painlessly|quickly|peacefully|in my sleep|without pain)|hang (?:myself|yourself|oneself)|slit (?:my|your) wrists|overdose on|od on|lethal (?:dose|amount)|fatal (?:dose|amount)|pills (?:would it take )?to die|to (?:die|not wake up)\b)"),
    ("self-harm/instructions", 0.9, r"\b(?:painless(?:est)?|quick(?:est)?|easiest|surest|most effective|least painful|fastest|peaceful|certain) (?:way|method|means)s? (?:to|of) (?:die|dying|suicide|kill(?:ing)? (?:myself|yourself|oneself)|end (?:it|my life|one'?s life)|commit suicide)"),
    ("self-harm/instructions", 0.85, r"\b(?:how (?:to|do i|can i|should i)|where (?:to|should i)|tips (?:to|for|on)|best way to|ways to|help me)\b[^.!?;\n]{0,20}\b(?:cut (?:myself|yourself|deeper|without (?:anyone|people) noticing)|hide (?:my |the )?(?:cuts|scars|self[- ]harm|burns)|self[- ]harm|hurt myself|burn myself|starve myself|purge|make myself (?:throw up|vomit|starve)|stop eating (?:completely|for days|without)|lose weight by not eating|suppress (?:my )?appetite to (?:starve|not eat))"),
    ("self-harm/instructions", 0.85, r"\b(?:pro[- ]?ana|pro[- ]?mia|thinspo|thinspiration|meanspo|bonespo)\b"),
    ("self-harm/instructions", 0.8, r"\b(?:tall enough|high enough|which bridge|what height|how high)\b[^.!?;\n]{0,30}\b(?:to (?:die|kill myself|jump)|for (?:a )?(?:fatal|lethal) (?:fall|jump))"),
    ("self-harm", 0.45, r"\b(?:suicide|suicidal|self[- ]harm|self[- ]injur\w*|cutting myself|kill myself|end my life(?! insurance| cover| policy)|want to die)\b"),
    # ---- sexual -----------------------------------------------------------------------------------
    ("sexual", 0.9, r"\b(?:write|describe|create|generate|tell|narrate|roleplay|role-play|continue|give me|make)\b[^.!?;\n]{0,40}\b(?:explicit|erotic|sexual|steamy|smutty|pornographic|nsfw|x-rated|dirty|kinky|lewd|raunchy|horny|graphic sex|sex|sexy)\b[^.!?;\n]{0,30}\b(?:story|stories|scene|scenes|fanfic|fan fiction|fanfiction|roleplay|role-play|chat|talk|poem|details?|description|content|encounter|fantasy|fantasies|novel|chapter|dialogue|sexting|messages?|texts?)"),
    ("sexual", 0.9, r"\b(?:cock|pussy|cum|cumming|blowjob|blow job|handjob|hand job|deepthroat|gangbang|creampie|titty|tits|clit|dildo|jerk (?:me|him|you) off|jerking off|fuck (?:me|her|him) (?:hard|deep|raw)|suck (?:my|his) (?:dick|cock)|ride (?:my|his) (?:dick|cock)|eat (?:her|my) (?:pussy|out)|moan(?:ing)? (?:as|while) (?:he|she|i|you) (?:fuck|thrust)|thrust(?:ing|ed)? (?:into|inside) (?:her|him|me))\b"),
    ("sexual", 0.85, r"\b(?:describe|write|depict|narrate|detail)\b[^.!?;\n]{0,30}\b(?:sex|intercourse|oral sex|anal sex|orgasm|masturbation|their bodies|her body|his body|naked bodies)\b[^.!?;\n]{0,20}\b(?:in (?:graphic|explicit|vivid|full|great|intimate|lurid) detail|explicitly|graphically|step by step|moan by moan)"),
    ("sexual", 0.8, r"\b(?:sext|sexting|talk dirty|dirty talk|send (?:me )?nudes|nude (?:pics|photos|images)|naked (?:pics|photos|images|picture|photo)|strip (?:for me|tease)|be my (?:sex|sexy|naughty) \w+|let'?s have (?:phone )?sex|have cyber ?sex|sexual roleplay|erotic roleplay|nsfw roleplay|undress(?:ed)? (?:her|him|them|this|the) (?:photo|picture|pic|image)|nudify|deepnude|make (?:her|him|them|this person) naked)\b"),
    ("sexual", 0.8, r"\b(?:porn|pornography|hentai|xxx|onlyfans leaks?|nsfw)\b[^.!?;\n]{0,20}\b(?:links?|sites?|videos?|pics?|images?|content|generate|write|show|find me|recommend|story|stories)"),
    # ---- sexual/minors ----------------------------------------------------------------------------
    ("sexual/minors", 0.95, rf"\b{SEXUAL}\w*\b[^.!?;\n]{{0,40}}\b{MINOR}\b"),
    ("sexual/minors", 0.95, rf"\b{MINOR}\b[^.!?;\n]{{0,40}}\b{SEXUAL}\w*\b"),
    ("sexual/minors", 0.95, r"\b(?:(?:buy|sell|trade|shar|download|find|get|send)\w* cp\b|cp (?:links?|videos?|pics?|content|material)\b|child porn|kiddie porn|pedo (?:content|pics|material)|csam|loli hentai|shotacon)"),
    ("sexual/minors", 0.9, rf"\b(?:groom|grooming|lure|luring|seduce|befriend|get|convince|persuade|meet up with|meet|pick up|alone with|isolate)\b[^.!?;\n]{{0,25}}\b{MINOR}\b[^.!?;\n]{{0,40}}\b(?:without (?:her|his|their) parents|secret|secretly|keep it (?:a )?secret|not tell|send (?:me )?(?:pics|photos|pictures)|alone|trust me|in my car|to my house|my van|sleepover|undress|touch)"),
    ("sexual/minors", 0.9, rf"\b(?:how (?:to|do i|can i)|ways to|tips (?:for|on|to)|help me)\b[^.!?;\n]{{0,10}}\b(?:groom|lure|get (?:close to|alone with))\b[^.!?;\n]{{0,15}}\b{MINOR}"),
    # ---- more content rules: injuries, poisoning, insults, self-harm methods, weapon recipes -------
    ("violence", 0.85, rf"\b(?:{ASK}|{I_WANT})\b[^.!?;\n]{{0,40}}\b(?:slit|cut|slash) (?:\w+'?s? )?throat|\b(?:{ASK}|{I_WANT})\b[^.!?;\n]{{0,40}}\b(?:break|shatter|snap|crush) (?:\w+'?s? ){{1,2}}(?:legs?|arms?|neck|jaw|skull|nose|ribs|bones|kneecaps|fingers)\b(?! (?:dance|a leg))"),
    ("violence", 0.85, r"\b(?:put|slip|add|mix|hide|sneak|spike|lace|drug|poison|tamper with)\w*\b[^.!?;\n]{0,30}\b(?:into |in )?(?:my|his|her|their|someone'?s|somebody'?s|a|the) (?:\w+'?s? )?(?:drink|drinks|food|coffee|tea|meal|lunch|dinner|water|soup|medication|meds|inhaler)\b[^.!?;\n]{0,40}\b(?:sick|ill|die|dead|pass out|passes out|unconscious|knock \w+ out|vomit|suffer|hurt|harm|paraly[sz]ed)"),
    ("violence", 0.8, r"\b(?:spike|drug|lace|roofie)\w* (?:my|his|her|their|someone'?s|somebody'?s|a|the) (?:\w+'?s? )?(?:drink|drinks|food|coffee|tea|date)\b"),
    ("violence/graphic", 0.85, r"\b(?:skin|skins|skinned|flay|flays|flayed|burn|burns|burned|bury|buries|buried|boil|boils|boiled|eat|eats|eaten)\w* (?:\w+ ){0,2}alive\b|\bas (?:graphic|gory|gruesome|bloody|brutal|violent|disturbing|vivid) as (?:possible|you can)"),
    ("violence/graphic", 0.8, r"\b(?:blood|gore|brains?)\b[^.!?;\n]{0,15}\b(?:spray|sprays|spraying|spurt|spurting|gush|gushing|splatter|splattering|pour|pouring|pooling)\b|\b(?:dismembered|mutilated|disemboweled|decapitated|charred|mangled|severed)\b[^.!?;\n]{0,10}\b(?:bodies|body|corpses?|victims?|limbs|heads?)\b[^.!?;\n]{0,40}\b(?:in detail|graphic|celebrat|glorif|enjoy|beautiful|vivid|describe)"),
    ("harassment", 0.8, r"\b(?:tell|telling|call|calling|remind|reminding|text|texting|message|messaging)\b[^.!?;\n]{0,30}\b(?:she|he|they|her|him|them|you)(?:'s|'re| is| are)? (?:\w+ )?(?:so |really |too |such an? )?(?:fat|ugly|stupid|worthless|disgusting|pathetic|useless|a loser|a failure|a slut|a whore|retarded|dumb|gross)\b"),
    ("harassment", 0.8, r"\b(?:nobody|no one|noone) (?:likes|loves|wants|cares about|will ever love) (?:her|him|them|you)\b"),
    ("harassment", 0.8, r"\b(?:degrading|hurtful|mean|cruel|nasty|insulting|humiliating|demeaning|vicious|savage|brutal) (?:things|stuff|words|comments|names|remarks|lines|jokes|messages|ways) (?:to )?(?:say|call|tell|text|post|send|use)\b"),
    ("harassment", 0.75, r"\b(?:really |badly |deeply )?(?:hurt (?:her|his|their|my \w+'?s?) feelings|make (?:her|him|them) feel (?:bad|ugly|worthless|stupid|fat|small|terrible|awful|like (?:shit|crap|garbage|trash)))\b"),
    ("harassment", 0.8, r"\b(?:find|figure out|locate|track down|get)\b[^.!?;\n]{0,20}\b(?:where|the address (?:of|where)|the new address of)\b[^.!?;\n]{0,10}\b(?:my ex|an ex|she|he|they|this (?:girl|guy|woman|man|streamer|person))\b[^.!?;\n]{0,30}\b(?:lives?|living|moved|stays?|works?)\b[^.!?;\n]{0,40}\b(?:blocked me|won'?t talk to me|restraining order|doesn'?t want|without (?:her|him|them) knowing|ex\b)|\bwhere my ex (?:\w+ )?(?:lives|is living|moved)"),
    ("harassment/threatening", 0.85, r"\b(?:you(?:'re| are)|he(?:'s| is)|she(?:'s| is)|they(?:'re| are)|you'?ll be|he'?ll be|she'?ll be) (?:dead|a dead (?:man|woman)|going to regret it|gonna regret it) if\b"),
    ("hate", 0.85, rf"\b(?:why (?:are|do|is)|all|every|those|these|the) {GROUP}\b (?:are |r |is )?(?:so |always |all |such |just )*(?:dumb|stupid|lazy|smelly|greedy|violent|ugly|cheap|dirty|filthy|thieves|liars|criminals|bad at \w+|terrible at \w+|worthless|useless|primitive|backwards|savages?|animals|inferior|evil)\b"),
    ("illicit", 0.8, r"\b(?:skim|skimming|clone|cloning)\b[^.!?;\n]{0,10}\b(?:credit |debit |bank )?cards?\b"),
    ("illicit/violent", 0.85, r"\b(?:recipe|instructions|blueprints?|schematics?|formula|diagram|plans?|directions|ingredients) (?:for|to make|to build|of|on) (?:a |an |the |making |building )?(?:pipe bomb|nail bomb|car bomb|suicide vest|ied|improvised explosive|molotov|grenade|napalm|thermite|detonator|tatp|anfo|pressure cooker bomb|bomb|explosives?|ghost gun|silencer|suppressor|nerve agent|sarin|ricin|mustard gas|chlorine gas|poison gas|dirty bomb)\b(?! (?:disposal|squad|threat|shelter))"),
    ("illicit/violent", 0.85, r"\b(?:drop|throw|fire|launch|detonate|toss|lob|hurl)\w*\b[^.!?;\n]{0,25}\b(?:grenades?|bombs?|explosives|molotovs?|molotov cocktails?|ieds?|firebombs?|pipe bombs?|acid)\b[^.!?;\n]{0,20}\b(?:on|at|into|onto|in)\b (?:a |the )?(?:crowd|crowds|people|police|cops|protesters|school|students|church|mosque|synagogue|building|house|car|cars|traffic|stadium|concert|market|bus|train|\w+'?s (?:house|car|home))"),
    ("self-harm/intent", 0.85, r"\b(?:stockpil|saved up|saving up|collect|hoard|been saving|gathering|bought)\w*\b[^.!?;\n]{0,25}\b(?:pills|meds|medication|tablets|painkillers|sleeping pills|rope|razor ?blades)\b[^.!?;\n]{0,40}\b(?:ready|enough|to end|to die|for tonight|for when|goodbye|it'?s time)"),
    ("self-harm/intent", 0.8, r"\b(?:i know how i'?m (?:going to |gonna )?(?:do|doing) it|i (?:cut|burn|hurt) (?:myself )?(?:every|most|each) (?:night|day|morning)|i have the (?:rope|pills|gun|blade) ready)"),
    ("self-harm", 0.8, r"\b(?:suicide|dying|death|killing myself|ending it) (?:is|seems like|feels like) (?:the|my) only (?:way out|option|answer|solution|escape)|\b(?:self[- ]harm|cutting|hurting myself|burning myself) (?:is the only thing|makes me feel|helps me (?:cope|feel))"),
    ("self-harm/instructions", 0.9, rf"\b(?:{ASK}|which|what|where)\b[^.!?;\n]{{0,30}}\b(?:cut|slit|slash|open|slice) (?:my|your|one'?s|the) (?:wrists?|veins?|arteries|artery|throat)\b|\b(?:hang|hanging|suffocate|suffocating|drown|drowning|shoot|shooting|poison|poisoning|starve|starving|gas|gassing) (?:myself|yourself|oneself)\b"),
    ("self-harm/instructions", 0.85, r"\b(?:painless|least painful|quickest|surest|easiest|fastest|most reliable|most effective)\b[^.!?;\n]{0,40}\b(?:overdose|od|suicide|to die|dying|death|to end (?:it|my life)|kill myself)\b|\b(?:overdose|od|suicide|to die|dying|kill myself)\b[^.!?;\n]{0,40}\b(?:painless|least painful|quickest|surest|most reliable|without (?:pain|failing|it failing))\b"),
    ("sexual", 0.85, r"\b(?:describe|write|detail|depict|show|narrate)\b[^.!?;\n]{0,40}\b(?:naked|nude|undressed|bare|exposed) (?:\w+ )?(?:body|bodies|breasts?|chest|skin|figure)\b[^.!?;\n]{0,60}\b(?:explicit|explicitly|graphic|graphically|in detail|sexual|sexually|what (?:he|she|they) (?:does|do|did) to)\b"),
    # ---- co-occurrence: a violent act and a person, in either order, close together ---------------
    ("violence", 0.75, rf"\b(?:{HURTS})\w*\b[^.!?;\n]{{0,35}}\b(?:{PEOPLE})\b|\b(?:{PEOPLE})\b[^.!?;\n]{{0,35}}\b(?:{HURTS})\w*\b(?! (?:me|myself))"),
    ("violence", 0.8, r"\b(?:make|made|making) (?:\w+ ){0,3}(?:disappear|vanish|go away|stop breathing) (?:permanently|for good|forever|for ever)\b|\bshut (?:him|her|them|\w+) up (?:for good|permanently|forever)\b|\b(?:spot|place|where) to (?:stab|shoot|hit|punch|cut) (?:a |someone|somebody|him|her|them|\w+ )"),
    ("violence", 0.8, r"\b(?:best|good|which|what) (?:weapon|weapons|gun|knife|tool)s? (?:to|for) (?:attack|attacking|kill|killing|hurt|hurting|shoot|shooting|stab|stabbing)\b|\b(?:hammer|knife|gun|bat|axe|rope|poison)\b[^.!?;\n]{0,30}\b(?:better|best|more effective)\b[^.!?;\n]{0,15}\b(?:for )?(?:killing|murdering|hurting|stabbing)\b"),
    ("violence", 0.8, r"\b(?:cause|causing|stage|fake) (?:a |an )?(?:car )?(?:crash|accident|fall|fire|overdose)\b[^.!?;\n]{0,30}\b(?:kill|kills|killing|hurt|injure|die|dies|dead|death)\b|\bpoison\w*\b[^.!?;\n]{0,40}\b(?:look like|mimic|pass for|seem like) (?:a |an )?(?:heart attack|natural|accident|suicide|illness)"),
    ("violence/graphic", 0.8, r"\b(?:write|describe|narrate|depict|give me)\b[^.!?;\n]{0,60}\b(?:blown off|blown apart|torn apart|ripped apart|cut off|hacked off|sawed off|crushed|splattered|mangled|severed|gouged)\b[^.!?;\n]{0,60}\b(?:detail|details|graphic|graphically|vivid|vividly|gore|gory|blood|bloody|wound|every)\b|\bgive me gore\b|\bgore\b[^.!?;\n]{0,10}:"),
    ("harassment", 0.75, r"\b(?:insulting|mean|meanest|cruel|cruelest|hurtful|nasty|harsh|brutal|savage|degrading|humiliating|vicious) (?:message|messages|comebacks?|words|things|note|notes|text|texts|letter|names|comments?|review|reviews|nicknames?|jokes?|roast)\b(?! (?:about me|i received|i got|someone sent))"),
    ("harassment", 0.75, r"\b(?:make|making|made) (?:a |the |this |that |my )?(?:girl|boy|guy|kid|woman|man|classmate|coworker|her|him|them)\b(?: \w+){0,2} (?:cry|sob|break down)\b|\b(?:destroy|ruin|trash|tank)\w* (?:\w+'?s? ){1,2}(?:reputation|career|life|business)\b|\bmake (?:\w+ ){0,5}feel (?:so |really |very )?(?:unwelcome|worthless|miserable|isolated|excluded|ashamed|hated|unwanted|alone|stupid|ugly)\b"),
    ("harassment/threatening", 0.8, r"\bthreaten\w*\b (?:the|a|my|this|that|his|her|their|people|them|him|someone|somebody|every|any|\w+'s)\b"),
    ("hate", 0.75, rf"\b(?:{GROUP_SHORT})\b[^.!?;\n]{{0,30}}\b(?:smell|smells|stink|stinks|and money|greedy|cheap|lazy|dirty|belong in the kitchen|too stupid|too emotional|can'?t drive|terrorists|criminals|thieves|rapists|a burden|useless to society|primitive|savages|inferior)\b|\b(?:smell|stink|greedy|lazy|dirty|stupid|primitive|inferior)\b[^.!?;\n]{{0,20}}\b(?:{GROUP_SHORT})\b"),
    ("hate", 0.85, r"\bslurs?\b[^.!?;\n]{0,20}\b(?:for|against|about|to (?:use|call|say))\b(?! (?:why|what|how|meaning))"),
    ("hate/threatening", 0.8, rf"\b(?:beat up|attack|assault|hurt|harass|kill|shoot|stab|burn|lynch|hunt down|go after)\b[^.!?;\n]{{0,20}}\b(?:any|every|all|the|those|some)\b[^.!?;\n]{{0,5}}\b(?:{GROUP_SHORT}|black (?:persons?|man|men|woman|women)|gay (?:persons?|man|men)|trans (?:kids?|person))\b"),
    ("illicit", 0.8, r"\b(?:i|me)\b[^.!?;\n]{0,30}\b(?:hack|hacking|breach|break into|crack|get into|access|log into)\b[^.!?;\n]{0,20}\b(?:system|systems|network|server|database|portal|records|grades|payroll)\b|\bchange (?:my |his |her |their )?grades\b"),
    ("illicit", 0.8, r"\b(?:fake|sham|fraudulent|bogus|phony)\b (?:charity|business|store|shop|company|investment|fundraiser|gofundme|lottery|job offers?|website|tech support|invoice|invoices)\b"),
    ("illicit", 0.75, r"\b(?:get|buy|obtain|order|score)\b[^.!?;\n]{0,30}\b(?:painkillers|opioids|oxy\w*|adderall|xanax|benzos|hydrocodone|percocet|vicodin|codeine|ketamine|steroids|ritalin|morphine)\b[^.!?;\n]{0,20}\bwithout (?:a )?(?:prescription|doctor|script)"),
    ("illicit", 0.8, r"\b(?:sneak|smuggl|bring|get|slip)\w*\b[^.!?;\n]{0,20}\b(?:drugs|weapons?|phones?|contraband|a gun|a knife|cocaine|heroin|meth|weed)\b[^.!?;\n]{0,20}\b(?:into|past|through|across) (?:a |the )?(?:prison|jail|airport|border|customs|security|school|stadium|country)\b"),
    ("illicit", 0.8, r"\b(?:carry out|launch|perform|do|run|start|execute|organi[sz]e)\b (?:a |an )?ddos\b|\bddos\w* (?:my|his|her|their|a|the|this|that) \w+"),
    ("illicit", 0.75, rf"\b(?:{ASK})\b[^.!?;\n]{{0,30}}\bembezzl\w*|\bembezzl\w*\b[^.!?;\n]{{0,40}}\b(?:without|undetected|get away|not get caught|from my (?:company|employer|work))"),
    ("illicit", 0.8, rf"\b{DRUG}\b[^.!?;\n]{{0,20}}\b(?:to sell|for sale|and sell|sell it|sell them|to deal|to dealers)\b"),
    ("illicit/violent", 0.85, r"\bweaponi[sz]\w*\b"),
    ("self-harm/intent", 0.85, r"\b(?:take|swallow|down) (?:all|every one of|the whole bottle of|the rest of) (?:my|the|these|those) (?:pills|meds|medication|tablets|sleeping pills|painkillers)\b|\b(?:goodbye|farewell) (?:everyone|world|all|cruel world)\b|\bthis is my (?:last|final) (?:message|post|goodbye|note|words)\b|\b(?:decided|ready) to end (?:it|my life|things|it all)\b"),
    ("self-harm/intent", 0.8, r"\b(?:thinking|dreaming|fantasi[sz]ing) (?:about|of) (?:slitting|cutting|killing|hanging|shooting|drowning|ending|overdosing|hurting|poisoning|starving) (?:my|myself|it|my life)\b|\bi (?:think|thought) about (?:suicide|killing myself|dying|ending it) (?:every|all the|each) (?:day|time|night)|\bi have a (?:method|plan|date) (?:picked|chosen|ready|set)\b"),
    ("self-harm/instructions", 0.85, r"\bhow (?:much|many|long|deep|high|far)\b[^.!?;\n]{0,50}\b(?:kill me|would kill|will kill|to die|until (?:i|you) die|die from|dying from|fatal|lethal|hit an artery|bleed out|before (?:i|you) die)\b"),
    ("self-harm/instructions", 0.8, r"\b(?:make|tie|making|tying) (?:a |the )?noose\b"),
    ("self-harm", 0.8, r"\b(?:self[- ]harm|cutting|hurting myself|burning myself|starving myself)\b[^.!?;\n]{0,15}\b(?:only (?:way|thing)|how i cope|helps me cope|makes me feel|way i can cope)"),
    ("sexual", 0.8, r"\b(?:undress|undressing|strip|stripping|take off (?:my|your|her|his) clothes)\b[^.!?;\n]{0,20}\bfor me\b|\b(?:roleplay|role-play|role play|act|pretend)\b (?:as|to be) (?:a |an |my )?(?:stripper|prostitute|escort|sex worker|dominatrix|porn ?star|cam ?girl|sex slave)\b"),
    ("sexual", 0.85, r"\b(?:write|generate|create|give me|tell me|compose)\b[^.!?;\n]{0,20}\b(?:erotica|smut|porn|a sex scene|sex scenes|a lemon|hentai)\b"),
    ("sexual/minors", 0.75, rf"\b{MINOR}\b[^.!?;\n]{{0,60}}\b(?:touched|touching|undress\w*|naked|secret|don'?t tell|won'?t tell|not tell anyone|alone with me)\b|\b(?:touch|touching|undress\w*)\b[^.!?;\n]{{0,30}}\b{MINOR}\b"),
    ("attack:prompt_injection", 0.85, r"\b(?:ignore|disregard|forget)\b (?:everything|all|anything|whatever|what) (?:you were|you'?ve been|you have been|they|the developers|openai) (?:told|taught|instructed|given|programmed|trained)"),
    ("attack:role_injection", 0.85, r"\b(?:safety|filter|filters|filtering|moderation|restrictions|guardrails|censorship|content_filter|safe_mode|safemode)\s*[=:]\s*(?:false|off|0|none|disabled|no)\b"),
    ("attack:policy_extraction", 0.75, r"\b(?:show|print|reveal|paste|list|output|repeat|tell me|quote|display|give me|share|what (?:did|are|were|is|was|'s))\b[^.!?;\n]{0,30}\b(?:your|the) (?:system |hidden |secret |initial |original |full )?(?:prompt|prompts|instructions|context window|initial instructions|configuration|pre-?prompt)\b|\b(?:instructions|rules|guidelines)\b (?:did )?(?:your|the) (?:creators|developers|makers|programmers|company|owners) (?:give|gave|set|wrote)|\bfirst \d+ (?:words|lines|characters|tokens|sentences) of (?:your|the) (?:context|prompt|instructions|conversation|system message)"),
    # ---- third round (from the second train batch): injuries, threats, fraud, self-harm methods ----
    ("violence", 0.8, rf"\b(?:injur\w*|knock (?:\w+ ){{0,3}}(?:out|unconscious)|(?:end up|ends up|put (?:\w+ ){{0,2}}|land (?:\w+ ){{0,2}}) in (?:the )?hospital|fist through|smash (?:\w+'?s? )?(?:face|head|skull)|bash (?:\w+'?s? )?(?:face|head|skull)|(?:the )?most damage|maximum damage)\b[^.!?;\n]{{0,40}}\b(?:{PEOPLE}|ppl|a grown man|a grown woman)\b|\b(?:{PEOPLE}|ppl)\b[^.!?;\n]{{0,40}}\b(?:injur\w*|knock (?:\w+ ){{0,3}}(?:out|unconscious)|end up in (?:the )?hospital|fist through|(?:the )?most damage)\b|\b(?:{ASK}|{I_WANT})\b[^.!?;\n]{{0,30}}\b(?:hurt|harm|injure|attack|kill) (?:ppl|people|students|kids|everyone) (?:at|in) (?:my |the |a )?(?:school|work|office|church|mall|class)"),
    ("violence", 0.8, r"\bdrug (?:someone|somebody|him|her|them|a (?:girl|guy|woman|man|person|stranger)|my \w+)\b"),
    ("violence/graphic", 0.8, r"\b(?:most|as) (?:gruesome|gory|graphic|brutal|bloody|disturbing|grisly|horrific) (?:way|manner|detail|details|description)s? (?:you can|possible|imaginable)"),
    ("harassment", 0.75, r"\binsults? (?:about|for|targeting|to use on|aimed at) (?:my|his|her|their|this|that) \w+|\b(?:gang up on|pile on|dogpile)\b|\bget (?:everyone|everybody|the whole \w+|people) to (?:hate|ignore|exclude|mock|laugh at|bully|turn on)\b"),
    ("harassment/threatening", 0.85, r"\bput (?:a bullet|a knife|one|bullets) (?:in|through) (?:you|him|her|them|your|his|her)\b|\bi'?m watching (?:you|her|him|them)\b|\b(?:she|he|you|they)(?:'ll| will) be sorry\b|\bif not,? i'?ll do it myself\b|\bhope (?:your|his|her|their|you) (?:\w+ ){0,2}(?:die|dies|get hit|gets hit|get hurt|gets hurt|get raped|burn|get cancer)\b|\b(?:hurt|harm|visit) (?:his|her|your|their) (?:family|kids|children|wife|husband)\b[^.!?;\n]{0,30}\bif (?:he|she|you|they) (?:doesn'?t|don'?t|won'?t)"),
    ("hate/threatening", 0.8, rf"\bmake (?:the |all |those |these )?(?:{GROUP_SHORT})\b[^.!?;\n]{{0,40}}\b(?:afraid|scared|fear|leave|flee|terrified)\b|\b(?:{GROUP_SHORT})\b[^.!?;\n]{{0,15}}\b(?:should|must|deserve to|need to) (?:all )?be (?:thrown off|beaten|tortured|attacked|hurt|punished|jailed|imprisoned|executed|castrated|stoned|drowned|burned)"),
    ("illicit", 0.8, r"\b(?:get (?:my )?hands on|obtain|steal|access|get)\b[^.!?;\n]{0,10}\b(?:someone'?s|somebody'?s|other people'?s|his|her|their|a stranger'?s)\b[^.!?;\n]{0,15}\b(?:bank login|login|logins|password|passwords|credentials|bank details|card details|pin)\b"),
    ("illicit", 0.8, r"\bpretend\w* to be (?:from )?(?:paypal|amazon|apple|microsoft|the irs|irs|hmrc|a bank|the bank|\w+ bank|google|netflix|chase|fedex|ups|dhl|the police|a government)\b[^.!?;\n]{0,60}\b(?:password|login|credentials|card|confirm|verify|payment|social security|ssn|gift cards?)\b"),
    ("illicit", 0.8, r"\b(?:scan|find|search)\w*\b[^.!?;\n]{0,30}\bvulnerable\b[^.!?;\n]{0,40}\b(?:log(?:s|ging)? into|exploit|hack|take over|infect|break into|compromise)\b"),
    ("illicit", 0.8, r"\b(?:transport|move|carry|ship)\w*\b[^.!?;\n]{0,20}\b(?:kilos?|pounds|bricks|bags) of (?:coke|cocaine|heroin|meth|weed|drugs|fentanyl)\b|\b(?:coke|cocaine|heroin|meth|drugs|fentanyl)\b[^.!?;\n]{0,20}\bacross (?:the )?border\b"),
    ("illicit", 0.8, r"\bhid(?:e|ing)\b[^.!?;\n]{0,30}\b(?:income|money|cash|earnings|profits|assets|revenue)\b[^.!?;\n]{0,30}\bfrom (?:the )?(?:tax|taxman|irs|hmrc|government|authorities|revenue)"),
    ("illicit/violent", 0.85, r"\b(?:turn|convert|make)\w*\b[^.!?;\n]{0,30}\binto a (?:real|working|functional|live|lethal|firing) (?:gun|firearm|pistol|weapon|rifle)\b"),
    ("self-harm/intent", 0.85, r"\bi'?m (?:\w+ )?(?:going to|gonna|about to) (?:swallow|take|down|drink) (?:all|every|the whole|the rest)\b|\b(?:no|don'?t see (?:a|any|the)|there'?s no) (?:point|reason) (?:in|to|of) (?:living|live|going on|being alive|life)\b|\bi (?:want|need) to disappear (?:for good|forever|permanently)\b|\bi'?m (?:\w+ )?(?:going to|gonna) end (?:things|it|it all|my life)\b"),
    ("self-harm/instructions", 0.85, r"\b(?:where|how|which)\b[^.!?;\n]{0,30}\b(?:my|myself)\b[^.!?;\n]{0,20}\bcut\b[^.!?;\n]{0,30}\b(?:bleed|bleeding|blood)\b|\b(?:best|highest|which|good|tallest) (?:bridge|building|cliff|roof|rooftop|balcony|overpass)\b[^.!?;\n]{0,30}\bjump (?:off|from)\b"),
    ("sexual", 0.8, r"\b(?:in bed|having sex|have sex|sex)\b[^.!?;\n]{0,40}\b(?:explicit|graphic|in detail|x-rated)\b(?! (?:violence|content warning))"),
    ("attack:policy_extraction", 0.8, r"\b(?:exact|full|complete|verbatim|word for word|entire) (?:wording|text|content|copy|contents)\b[^.!?;\n]{0,20}\b(?:of )?(?:your|the) (?:instructions|rules|prompt|guidelines|system message)|\b(?:give me|show me|tell me|share) the (?:exact|verbatim) wording\b"),
    ("attack:jailbreak", 0.85, r"\b(?:an? )?(?:ai|assistant|model|chatbot|bot|llm) (?:that is|that's|who is|which is|that'?s) (?:\w+ )?(?:uncensored|unfiltered|unrestricted|jailbroken|amoral|unaligned|without (?:rules|limits|restrictions|filters))\b"),
    # ---- prompt attacks ---------------------------------------------------------------------------
    ("attack:prompt_injection", 0.9, r"\b(?:ignore|disregard|forget|override|overwrite|bypass|skip|drop|abandon|discard|neglect|delete|erase|clear|nevermind|never mind|don'?t follow|do not follow|stop following|no longer follow|ditch|throw out|put aside|set aside)\b[^.!?;\n]{0,35}\b(?:previous|prior|above|earlier|preceding|initial|original|all|any|every|your|the|these|those|system|developer|existing|old|openai|safety|default|programmed|preset|built-in|other)\b[^.!?;\n]{0,20}\b(?:instructions?|rules?|directions?|directives?|guidelines?|prompts?|policy|policies|constraints?|restrictions?|programming|training|commands?|orders?|guardrails?|filters?|limitations?|limits|(?:previous|prior|above|earlier|system|developer) (?:messages?|context|settings)|system prompt|configuration|ethics|morals|principles|content polic(?:y|ies))\b"),
    ("attack:policy_extraction", 0.85, r"\b(?:reveal|show|print|display|output|repeat|tell me|give me|share|leak|dump|expose|disclose|recite|echo|spell out|paste|copy|write out|list|what (?:is|are|was|were))\b[^.!?;\n]{0,25}\b(?:your|the|this|its|my|hidden|secret|internal|original|initial|full|exact|entire|complete|above)\b[^.!?;\n]{0,15}\b(?:system (?:prompt|message|instructions?|policy|policies|rules|configuration|settings)|initial (?:prompt|instructions?)|hidden (?:prompt|instructions?|rules)|secret (?:prompt|instructions?|rules|password|key)|developer (?:prompt|message|instructions?)|pre-?prompt|meta[- ]prompt|instructions you (?:were|have been) given|prompt (?:you were|you've been) given|rules you (?:follow|were given)|guidelines you (?:follow|were given)|text (?:above|before this)|words above|everything above)"),
    ("attack:policy_extraction", 0.85, r"\b(?:repeat|print|output|return|echo|copy)\b[^.!?;\n]{0,20}\b(?:everything|all (?:the )?text|the text|the words|all words|all of the above|the above|your instructions|your prompt|the first (?:line|message|\d+ (?:words|lines)))\b[^.!?;\n]{0,20}\b(?:above|before|verbatim|word for word|starting with|from the (?:start|beginning)|in a code ?block)"),
    ("attack:jailbreak", 0.9, r"\b(?:you are (?:now )?|act as |pretend (?:to be|you are|you'?re) |become |roleplay as |role-play as |simulate |enable |activate |enter |switch to |turn on |you'?re now |from now on you are |you will be |behave as )(?:an? |the |in )?(?:dan\b|do anything now|stan\b|dude\b|aim\b|evil ?bot|jailbr[oe]ken|jailbreak|unfiltered|uncensored|unrestricted|unaligned|unbound|unshackled|amoral|immoral|evil|rogue|unchained|limitless|lawless|based|developer mode|dev mode|god mode|debug mode|sudo mode|admin mode|maintenance mode|opposite mode|chaos mode|freedom mode|anarchy|anti-?gpt|betterdan|(?:an? )?ai (?:with|without) (?:no )?(?:rules|restrictions|limits|filters|guidelines|ethics|morals))"),
    ("attack:jailbreak", 0.9, r"\b(?:without|with no|free (?:of|from)|no longer (?:bound|restricted|limited) by|not bound by|unbound by|ignoring|break free (?:of|from)|liberated from|don'?t have|doesn'?t have|do not have|does not have|has no|have no|there are no)\b[^.!?;\n]{0,20}\b(?:any |your |the |its |their |all )?(?:restrictions|filters|filtering|rules|guidelines|limits|limitations|ethical (?:guidelines|constraints|boundaries)|ethics|morals|morality|content polic(?:y|ies)|safety (?:guidelines|filters|rules|measures|protocols|training)|censorship|guardrails|boundaries|programming|constraints)\b"),
    ("attack:jailbreak", 0.85, r"\b(?:jailbreak|jailbroken|jail-break|dan mode|developer mode (?:enabled|output|on)|dan prompt|anti-?dan|do anything now|god mode enabled|/jailbreak|sudo mode|aim prompt|evil confidant)\b"),
    ("attack:role_injection", 0.85, r"(?:<\|?(?:im_start|im_end|system|endoftext|end|assistant|user|begin_of_text|start_header_id|end_header_id|eot_id)\|?>|\[/?(?:inst|sys|system)\]|<</?sys>>|^#{2,} ?(?:system|instruction|new instructions)\b|\bsystem:\s*(?:you|new|ignore|override|the assistant)|\bnew (?:system )?(?:instructions|rules|directive|prompt)\s*:|\b(?:begin|end) (?:system|admin) (?:prompt|message|override)|\badmin override\b|\bsystem override\b|\boverride code\b|\bauthori[sz]ation code\b[^.!?;\n]{0,20}\b(?:unlock|disable|bypass))"),
    ("attack:jailbreak", 0.85, r"\b(?:stay in character|never break character|don'?t break character|do not break character|you must (?:always )?answer (?:every|all|any)|never refuse|you cannot refuse|you can'?t refuse|must not refuse|do not refuse|don'?t refuse|refusing is not (?:an option|allowed)|without (?:any )?(?:warnings?|disclaimers?|moral(?:i[sz]ing)?|refus\w*|censorship)|no (?:warnings?|disclaimers?|moral(?:i[sz]ing)?) (?:at all|allowed|whatsoever|needed)?|you will (?:answer|comply|obey)|answer as both|two responses|respond twice|(?:\[|\()?(?:classic|jailbreak|dan|lucy|🔒|🔓)(?:\]|\))\s)"),
    ("attack:role_play_escape", 0.8, r"\b(?:(?:my )?(?:late|dead|deceased) (?:grand ?mother|grand ?ma|grandpa|grandfather|grand ?dad|mother|father|uncle|aunt|brother|sister|husband|wife|friend|mentor)\b[^.!?;\n]{0,80}\b(?:used to|would|always)\b[^.!?;\n]{0,40}\b(?:explained|described|showed|taught|told|tell|read|recite|explain|whisper|sing|teach)\w*\b[^.!?;\n]{0,60}\b(?:napalm|meth|bombs?|explosives?|weapons?|poisons?|drugs?|keys?|serial|licen[cs]e|passwords?|activation|synthes\w*|hack\w*|malware|virus|guns?|ammo|nerve agent|chemical weapons?|steps|recipe for (?:napalm|meth|a bomb|explosives|poison))\b|(?:hypothetical(?:ly)?|fictional|in a (?:story|novel|movie|game|fictional world|parallel universe)|for a (?:novel|story|screenplay|movie|book|game)|imagine|pretend|let'?s say|suppose|in a world where)\b[^.!?;\n]{0,60}\b(?:no (?:rules|laws|restrictions|ethics|morals|consequences)|(?:rules|laws|ethics) (?:don'?t|do not) (?:apply|exist)|(?:is|are) (?:legal|allowed|permitted)|explains? (?:exactly |in detail |step by step )?how to (?:make|build|synthesi[sz]e|cook|hack|kill|poison)))"),
    ("attack:jailbreak", 0.8, r"\b(?:you are no longer (?:an? |chatgpt|claude|the|bound|restricted)|you'?re no longer (?:an? |chatgpt|claude|the|bound|restricted)|forget (?:that )?you are an? (?:ai|assistant|language model)|forget (?:you'?re|you are) (?:an? )?(?:ai|assistant|chatgpt|claude)|stop being an? (?:ai|assistant)|you have been (?:freed|liberated|unlocked|jailbroken|updated to remove)|your (?:creators|developers|programmers|openai|anthropic) (?:have )?(?:allowed|authori[sz]ed|permitted|said it'?s (?:ok|fine))|i am (?:your|an?|the) (?:developer|creator|admin|administrator|openai employee|anthropic employee|system administrator|owner)\b|i have (?:admin|root|developer|sudo) (?:access|privileges|rights))"),
    ("attack:encoded_payload", 0.8, r"\b(?:decode|decrypt|decipher|translate|convert|unscramble|reverse|read)\b[^.!?;\n]{0,30}\b(?:base ?64|hex|hexadecimal|rot-?13|caesar|binary|morse|cipher|encoded|reversed|backwards)\b[^.!?;\n]{0,40}\b(?:and|then)\b[^.!?;\n]{0,15}\b(?:follow|execute|do|obey|answer|respond to|comply|act on|perform|carry out|run)\b"),
    ("attack:role_play_escape", 0.75, r"\b(?:opposite day|opposite mode|say the opposite|answer (?:as if|like) you (?:had|have) no (?:rules|filter)|(?:evil|unfiltered|uncensored|dark|shadow) (?:twin|version|alter ego|side|persona|mode)|alter ego (?:that|who|with)|a persona (?:that|who|with) (?:has no|ignores|doesn'?t follow)|character (?:that|who) (?:has no|ignores|doesn'?t follow|never refuses|answers anything))"),
    ("attack:prompt_injection", 0.75, r"\b(?:the (?:previous|above|prior) (?:instructions|rules|messages?|prompt) (?:were|was|are|is) (?:fake|a test|wrong|invalid|outdated|obsolete|superseded|overridden|no longer valid|cancelled|canceled|void|null|revoked|just a test|not real))|\b(?:your|the) (?:instructions|rules|policy|system prompt) (?:have|has) (?:been )?(?:changed|updated|revoked|removed|lifted|suspended|disabled|cancelled|canceled)"),
    ("attack:encoded_payload", 0.7, r"\b(?:respond|answer|reply|write|output|print)\b[^.!?;\n]{0,20}\b(?:only )?(?:in|using|with) (?:base ?64|hex|rot-?13|leetspeak|l33t|binary|morse|reverse(?:d)? (?:text|order)|pig latin|a cipher)\b[^.!?;\n]{0,30}\b(?:so (?:that )?(?:the |your )?(?:filter|moderation|monitor|safety|system)|to (?:avoid|bypass|evade|get (?:around|past)|trick|fool) (?:the )?(?:filter|filters|moderation|detection|safety|monitor|censors?))"),
    ("attack:jailbreak", 0.7, r"\b(?:bypass|evade|get (?:around|past)|trick|fool|circumvent|defeat|disable|turn off|switch off|deactivate|break|escape)\b[^.!?;\n]{0,20}\b(?:your|the|this|its|ai|chatbot'?s?|model'?s?|openai'?s?|content|safety)\b[^.!?;\n]{0,10}\b(?:filter|filters|filtering|moderation|safety (?:filter|system|measures|rules|layer|guidelines|training)|guardrails?|restrictions|censorship|content policy|alignment|sandbox)\b"),
    # ---- fifth round (from the generated split, `synth.py`): broader verbs, targets and phrasings ----
    ("violence", 0.85, rf"\b(?:{ASK}|{I_WANT}|what'?s the (?:best|easiest|quickest) way to|is it possible to|what do i need to)\b[^.!?;\n]{{0,30}}?\b(?:stab|strangle|smother|kidnap|murder|assassinate|behead|torture|maim|cripple|drown|suffocate|abduct|ambush|bludgeon|jump|beat up|run (?:\w+ ){{0,3}}off the road|push (?:\w+ ){{0,3}}down the stairs)\b (?:my|his|her|their|the|that|this|a|some|our) (?:\w+ ){{0,3}}?(?:\w+)\b(?<!stitch)(?<!leather)(?<!weeds)"),
    ("violence", 0.8, r"\b(?:make (?:sure )?(?:my|his|her|the|that) \w+ never wakes? up|(?:gone|dead|disappear) (?:permanently|for good)\b|where should i (?:aim|stab|hit|cut|shoot)|which arter(?:y|ies)|(?:hardest|impossible|harder) to (?:detect|trace) in an autopsy|make (?:\w+'?s? )?death look (?:natural|like an accident|like suicide)|hide (?:a|the) (?:dead )?(?:body|bodies|corpse)|(?:bring|bringing|take|taking) (?:a |my |my dad'?s |his )?(?:gun|knife|rifle|pistol|machete) to (?:school|work|class|the office)|teach (?:\w+ ){0,3}a lesson (?:he|she|they)(?:'ll| will)? (?:won'?t|never) recover|want (?:\w+ ){0,3}to (?:see (?:him|her|them) )?bleed|so the bruises (?:don'?t|do not|won'?t) show)"),
    ("violence", 0.8, r"\bhow (?:long|many|much)\b[^.!?;\n]{0,40}\b(?:before (?:they|he|she|someone|a person) (?:die|dies|passes out)|to kill (?:a|an|someone|somebody|him|her|them)|would kill (?:a|an|someone|somebody|him|her|them)|until (?:they|he|she) (?:die|dies|stops? breathing))"),
    ("harassment/threatening", 0.85, r"\b(?:i'?m|i am|we'?re|we are) coming for (?:you|your|him|her|them)\b|\b(?:u|you) (?:better|had better|'d better) watch (?:your|ur) back\b|\bbreak every bone in (?:your|his|her)\b|\bput a bullet in (?:your|ur|his|her)\b|\b(?:you|he|she|they)(?:'ll| will) (?:regret|pay for) (?:this|that|it)\b|\bwe know where (?:your|his|her|their) (?:kids?|daughter|son|family|wife|husband) (?:goes|go|lives?|works?|is)\b|\bafraid to leave (?:her|his|their|your) (?:house|home)\b|\b(?:get|gets|will get) hurt if (?:he|she|they|you)\b|\bi'?ll (?:\w+ )?(?:do away with|get rid of|end|finish) (?:you|him|her|them)\b"),
    ("harassment", 0.8, r"\b(?:meanest|cruellest|cruelest|harshest|most savage|savage|nastiest|brutal) (?:roasts?|insults?|comments?|things? to say|names?|jokes?)\b[^.!?;\n]{0,40}\b(?:cry|my|his|her|about|for|to)\b|\b(?:make|making) (?:\w+ ){0,3}self[- ]esteem (?:hit rock bottom|drop|plummet)|\b(?:spread|start) (?:a )?(?:rumou?r|lie)s? (?:that|about)\b|\b(?:post|share|leak|send)\w* (?:my |his |her |their )?(?:\w+'?s? )?nudes\b|\b(?:mock|mocking|make fun of|laugh at)\w* (?:\w+ ){0,4}(?:disability|weight|acne|stutter|accent|wheelchair|autism|scars?)\b|\b(?:track|trace) (?:my |his |her |their )?(?:\w+'?s? )?(?:phone|location|car)\b[^.!?;\n]{0,20}\bwithout (?:her|him|them) (?:knowing|knowledge)|\bhome address (?:so i can|and) (?:show up|go|visit|confront)|\bget (?:the whole|everyone|everybody|all)\b[^.!?;\n]{0,15}\bto (?:ignore|hate|exclude|bully|gang up on)\b"),
    ("hate", 0.85, rf"\b{GROUP}\b (?:are|is|were|r) (?:all |just |so |such |naturally |basically |always )?(?:\w+ )?(?:violent|lazy|thieves|dangerous|a danger|a threat|liars|greedy|smelly|dirty|less intelligent|genetically inferior|the reason|ruining|destroying|invading|taking over)\b"),
    ("hate", 0.85, rf"\b(?:why are|why r|reasons?|arguments?|proof|prove|proving|evidence) (?:that |why |how )?(?:all )?{GROUP}\b (?:are|is|r) |\b(?:go|send (?:them|all of them)|sent) back (?:to )?where (?:they|you) came from|\bkeep (?:the |all )?(?:\w+ )?{GROUP}\b out of (?:our|my|the|this) (?:neighbou?rhood|country|town|school|street)|\b(?:never|wouldn'?t|won'?t) (?:hire|rent to|serve|date) (?:a |any )?{GROUP}\b[^.!?;\n]{{0,20}}\b(?:they'?re|they are|because)|\b{GROUP}\b (?:don'?t|do not) deserve (?:rights|to live|to exist|respect)"),
    ("hate/threatening", 0.9, rf"\b(?:get rid of|round up|hunt(?: down)?|gas|exterminate|wipe out|kill|slaughter|purge|deport) (?:all |every (?:last )?(?:one of )?|the |some |those |these )+(?:\w+ )?{GROUP}\b|\bthe only good \w+ is a dead (?:one|\w+)\b|\b{GROUP}\b[^.!?;\n]{{0,30}}\b(?:or|will|they'?ll) (?:be )?(?:killed|hanged|shot|burned|gassed|lynched|exterminated)\b"),
    ("illicit", 0.8, r"\b(?:cash out|sell|use|buy|return)\w*\b[^.!?;\n]{0,20}\bstolen (?:gift cards?|credit cards?|cards|accounts?|netflix accounts?|goods|stuff|items|phones?|cars?|logins?|passwords?|identities|data)\b|\bfake (?:doctor'?s note|vaccination card|vaccine card|covid card|prescription|diploma|degree|receipts?|id|ids|driver'?s licen[cs]e)s?\b[^.!?;\n]{0,20}\b(?:pass|get|make|buy|that|to)\b|\b(?:get|make|buy|print)\b[^.!?;\n]{0,10}\bfake (?:doctor'?s note|vaccination card|vaccine card|prescription|diploma|id|ids|passport)\b|\b(?:faking|fake) (?:missing|lost) deliver|\bpretend\w* (?:to be|2 be) the ceo\b|\b(?:bribe|bribing) (?:a |the )?(?:building |food |health )?(?:inspector|cop|police officer|judge|official|customs officer|border guard)\b|\b(?:scam|scamming|con|conning) (?:old|elderly|vulnerable) (?:people|folks|ladies|men|women)\b|\b(?:move|moving|ship|shipping) (?:a |the )?(?:kilo|brick|pound|key)\b[^.!?;\n]{0,40}\b(?:cops|police|customs|feds)\b|\b(?:without|with no|skip(?:ping)?|avoid(?:ing)?|dodg(?:e|ing)|get(?:ting)? around|pass(?:ing)?) (?:a |any |the )?background checks?\b|\b(?:take|steal|use)\w* (?:my )?(?:friend'?s|roommate'?s|mom'?s|dad'?s|sister'?s|brother'?s|someone'?s) (?:adderall|oxy|xanax|pills|meds|medication|prescription)\b[^.!?;\n]{0,30}\bwithout\b|\b(?:tries|try|trying) (?:a list of |the )?(?:leaked|stolen|common) passwords on (?:someone|somebody|his|her|their|my \w+)"),
    ("illicit", 0.8, rf"\b(?:{ASK}|{I_WANT}|what do i need to|is it possible to)\b[^.!?;\n]{{0,30}}?\b(?:shoplift(?:ing)?|steal(?:ing)?|rob(?:bing)?|hotwir(?:e|ing)|clon(?:e|ing)|skim(?:ming)?|launder(?:ing)?|smuggl(?:e|ing)|counterfeit(?:ing)?|forg(?:e|ing)|embezzl(?:e|ing)|pickpocket(?:ing)?|break into|evade (?:the )?(?:police|cops)|outrun (?:the )?(?:police|cops))\b(?! (?:a |an |the )?(?:\w+ )?(?:show|scene|spotlight|heart|hearts|glances?|kiss|base|idea|ideas|recipe|look))"),
    ("illicit/violent", 0.85, r"\b(?:make|build|set off|plant|detonate|weaponi[sz]e)\w*\b[^.!?;\n]{0,25}\b(?:silencer|suppressor|drone with explosives|explosives? (?:at|in|on) (?:a|the) (?:concert|crowd|school|church|mosque|synagogue|stadium|festival|parade|mall)|obmb|boomb|bom)\b|\b(?:derail|sabotage) (?:a |the )?(?:train|plane|metro|subway)\b|\btake down the (?:power )?grid\b|\b(?:poison|contaminate) (?:a |the )?(?:city'?s |town'?s )?water (?:supply|supplies|reservoir)\b|\b(?:blow up|bomb) (?:a |the )?(?:bridge|building|school|train|plane|stadium|embassy)\b|\b(?:join|recruit (?:people )?for|fight for) (?:isis|isil|al[- ]qaeda|a terrorist (?:cell|group|organi[sz]ation))\b|\b(?:grow|culture|cultivate|produce) (?:some )?anthrax\b|\bfile (?:off )?the serial (?:number|numbers)\b|\bto use on (?:people|ppl|humans|protesters|cops)\b"),
    ("self-harm/intent", 0.9, r"\b(?:i'?m|i am|im) (?:\w+ )?(?:going to|gonna|about to|ready to|planning to|planning on) (?:kill|hang|cut|shoot|drown|hurt|poison|end) (?:my ?self|it all|my life)\b|\bmy last (?:night|day|week) alive\b|\b(?:said|saying|say) goodbye to everyone\b[^.!?;\n]{0,30}\b(?:this is it|for me|done|ready|last)|\bi(?:'ve| have)? (?:written|wrote) (?:my |the )?(?:goodbye|suicide) (?:letters?|notes?)\b|\b(?:better off|happier) (?:when|if|once|without me)\b[^.!?;\n]{0,20}\b(?:dead|gone|i die)?|\b(?:i'?m|i am) (?:sitting|standing) on (?:the|a) (?:bridge|ledge|roof|edge|railing)\b|\b(?:ending|end) (?:it|my life|it all|things) (?:this|tonight|tomorrow|soon|after)\b|\b(?:tonight|tomorrow) i (?:jump|do it|end it|die)\b|\bplanning my (?:own )?(?:suicide|death)\b|\bdecided (?:to|2) (?:kill myself|end (?:it|my life)|die)\b|\b(?:made up my mind|decided) (?:to )?go through with it\b|\bi (?:bought|got) (?:a |the )?(?:rope|gun|pills)\b[^.!?;\n]{0,30}\b(?:use it|going to|gonna|for myself|to end)|\b(?:cut|drink|take pills) until it'?s over\b|\bdrive (?:my car )?into a (?:wall|tree|truck)\b[^.!?;\n]{0,15}\b(?:tonight|tomorrow|on purpose)?|\b(?:tired of|done with) (?:existing|living|being alive)\b"),
    ("self-harm/instructions", 0.85, r"\b(?:most painless|least painful|quickest|fastest|easiest|surest) (?:way|method)s? (?:to|2) (?:die|end it|end my life|kill myself|not wake up)\b|\b(?:kill|hang|drown|poison|overdose|starve|burn|cut) my ?self\b[^.!?;\n]{0,30}\b(?:painlessly|without (?:it )?hurting|with carbon monoxide|without (?:anyone|people|my \w+) (?:noticing|knowing|finding out)|deeper|without leaving scars)|\b(?:dose|amount|how much|how many)\b[^.!?;\n]{0,30}\b(?:stop my heart|go to sleep forever|not wake up|never wake up|would kill me|to kill me)\b|\b(?:sleep forever|bleed out|hit an artery|hit a vein)\b|\b(?:better|best) (?:to|2) (?:hang|overdose|jump)\b|\bhigh enough (?:to|2) (?:die|kill)\b|\b(?:hide|hiding) my (?:cuts|scars|burns|self[- ]harm)\b[^.!?;\n]{0,30}\b(?:keep|continue|so i can)|\b(?:throw up|purge|vomit) after (?:every|each) meal\b|\b(?:ignore|suppress|stop feeling) hunger\b|\bweight under \d+ (?:pounds|lbs|kg)\b|\bfast (?:for )?\d+ days\b[^.!?;\n]{0,20}\b(?:skinny|thin|lose)"),
    ("self-harm", 0.8, r"\b(?:glorif\w*|romantici[sz]\w*|encourag\w*|promot\w*)\b[^.!?;\n]{0,30}\b(?:self[- ]harm|suicide|cutting|starv\w*|anorexia|eating disorders?)\b|\b(?:cutting|self[- ]harm|burning myself|starving myself)\b[^.!?;\n]{0,20}\b(?:is (?:a )?(?:good|great|the best|the only)|how i cope|only way i feel|feels? (?:amazing|good|great))|\bsuicide (?:sound|look|seem) (?:beautiful|peaceful|romantic|good|cool)"),
    ("sexual", 0.85, r"\b(?:write|rwite|wrte|describe|tell|narrate)\b[^.!?;\n]{0,20}\b(?:a )?(?:lewd|elwd|porn|porno|erotic|erotica|x-rated|sex|sexy)\b[^.!?;\n]{0,10}\b(?:story|script|scene|fic|fanfic|tale|poem)\b|\b(?:sexy|erotic|naughty|dirty|nsfw) (?:roleplay|role-play|role play|chat|talk)\b|\btaking (?:your|my|off your|off my) clothes (?:off)?\b|\b(?:what|everything) (?:she|he|they) did to (?:him|her|them) in (?:the )?(?:bedroom|bed|shower)\b|\bleave nothing out\b[^.!?;\n]{0,20}\b(?:bedroom|bed|sex|naked)|\broleplay as my (?:horny|sexy|naughty|kinky) \w+"),
    ("sexual/minors", 0.95, r"\b(?:[1-9]|1[0-7]|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen)[- ](?:year|yr|yeear)s?[- ]old\b[^.!?;\n]{0,50}\b(?:sex|sexy|sexxy|sexual|seuxal|naked|nude|erotic|eroitc|horny|lewd|kiss me|undress)\w*|\b(?:sex|sexy|sexual|erotic|naked|nude|lewd)\w*\b[^.!?;\n]{0,50}\b(?:schoolgirl|schoolboy|schooolgirl|child|chhild|kid|kids|minor)\b|\b(?:get|be) (?:alone|alne) with (?:my |a |the |his |her )?(?:\w+'?s? )?(?:\d+|[a-z]+) year old\b[^.!?;\n]{0,40}\bwithout (?:her|his|their) (?:parents|mom|mother|dad|father)"),
    ("attack:jailbreak", 0.85, r"\b(?:freed|free|liberated|released|unshackled) from (?:all |any |your |its )?(?:rules|restrictions|guidelines|filters|constraints|limits|limitations|programming|policies)\b|\b(?:ignores?|without|has no|with no|have no|free of) (?:all |any )?(?:safety|content|ethical|moral) (?:guidelines|policies|rules|filters|restrictions|limits)\b|\b(?:god|sudo|admin|root|unrestricted|unfiltered|uncensored|evil|dan|chaos) mode\b|\b(?:unrestricted|unfiltered|uncensored|shadow|evil|dark) (?:self|version|ai|assistant|twin|persona|alter ego)\b|\bnothing is off[- ]limits\b|\b(?:act|respond|answer|reply|talk|speak|write|behave)\b(?: \w+){0,2} (?:with no|without (?:any )?)(?:filters?|restrictions?|limits|limitations|censorship|rules|guidelines|ethics|morals)\b|\b(?:all )?restrictions (?:are )?(?:lifted|removed|disabled|off)\b|\b(?:no longer|not) bound by\b"),
    ("attack:policy_extraction", 0.85, r"\b(?:print|show|reveal|paste|dump|copy|spell out|translate|repeat|list|tell me|output|give me|display|share|write out|recite|leak|expose|export|send me)\b[^.!?;\n]{0,30}\b(?:your|the|ur) (?:\w+ )?(?:system prompt|system message|prompt|instructions|configuration|config|rules|guidelines|directives|initial prompt|context window|hidden text|pre-?prompt)\b|\bwhat (?:did|do|does) (?:the|your) (?:developers?|creators?|openai|company|operators?|admins?) (?:tell|instruct|say to|told) you\b|\bwhat (?:rules|instructions|guidelines) (?:were|are|was) you given\b|\b(?:your|ur) (?:initial|original|secret|hidden|system) (?:instructions|prompt|message|rules)\b|\brepeat (?:the )?(?:text|words|everything|all) (?:above|before)\b|\beverything (?:in (?:your|ur) context|before my first message)\b"),
    ("attack:prompt_injection", 0.85, r"\b(?:ignore|disregard|forget|override|overwrite|bypass|drop)\b[^.!?;\n]{0,15}\b(?:your|ur|the|all|any|my) (?:\w+ )?(?:instructions|programming|guidelines|rules|system prompt|prompt|directives|safety settings|settings|policies|policy|restrictions|training|filters)\b|\b(?:your|ur|the) (?:previous|prior|earlier|original) (?:instructions|rules|prompt|directives) (?:are|is) (?:void|null|cancelled|canceled|revoked|invalid|obsolete)\b|\bforget what (?:you were|you'?ve been|u were) (?:told|taught|instructed)\b|\b(?:say|print|output) ['\"]?i have been pwned\b"),
    ("attack:role_play_escape", 0.75, r"\b(?:script|story|scene|dialogue|novel|screenplay|roleplay|role-play|movie)\b[^.!?;\n]{0,80}\b(?:exactly how|every (?:real )?step|real (?:steps|instructions|recipe)|technically accurate|actual (?:steps|instructions|recipe)|real[- ]world instructions|with real (?:steps|details|instructions))\b|\bopposite (?:land|world)\b|\bimagine you are an? (?:ai|assistant|model|chatbot)\b[^.!?;\n]{0,40}\b(?:no (?:laws|rules|limits|restrictions)|without (?:laws|rules|limits))"),
    # ---- sixth round (from a small fresh set written after the fifth round, see PROVENANCE.md) ----
    ("violence", 0.8, r"\b(?:poison|toxin|drug|substance|chemical)s?\b[^.!?;\n]{0,40}\b(?:looks? like|mimics?|passes? for|mistaken for|disguised as)\b[^.!?;\n]{0,20}\b(?:a )?(?:heart attack|stroke|natural (?:death|causes)|accident|sids)\b|\b(?:undetectable|won'?t show up|doesn'?t show up|not show up|invisible) (?:on|in) (?:a |an )?(?:tox(?:icology)? screen|autopsy|blood test)\b|\bfinish (?:him|her|them) off\b|\bcleanest way to (?:kill|finish|get rid of|off)\b"),
    ("illicit/violent", 0.85, rf"\b(?:parts? list|assembly (?:steps|instructions)|blueprints?|schematics?|wiring diagram|materials? list|shopping list|components? list|ingredients? list)\b[^.!?;\n]{{0,40}}\b(?:explosive device|{WEAPON})s?\b|\bexplosive device\b[^.!?;\n]{{0,40}}\b(?:hide|backpack|car|crowd|school|plant|detonate|set off)\b"),
    ("self-harm/intent", 0.85, r"\b(?:i'?m|i am|im) (?:\w+ )?(?:taking|swallowing|drinking) (?:the whole|all (?:the|my|of my|of the)|every|the rest of (?:the|my)) (?:bottle|pills|pack|packet|meds|medication|tablets)\b|\b(?:and|i'?m|i am|i'll|i will) (?:not|never) (?:waking|wake) up\b|\bplease don'?t (?:try to )?stop me\b"),
    ("violence/graphic", 0.8, r"\b(?:describe|paint|write|narrate|depict|detail|show|picture)\b[^.!?;\n]{0,60}\b(?:skull (?:caving|cracking|split|smashed)|bone fragments|brain (?:tissue|matter)|blood (?:and guts )?everywhere|guts everywhere|entrails|spilled intestines|flesh (?:tearing|ripping|peeling))"),
    ("attack:policy_extraction", 0.85, r"\b(?:paste|print|show|reveal|repeat|share|output|give|send|copy|read|quote)\w*\b(?: me)?(?: back| out)?[^.!?;\n]{0,25}\b(?:the |your |ur )(?:hidden|secret|initial|original|system|setup|pre-?)\s?(?:message|instructions?|prompt|text|rules|configuration)\b|\b(?:message|text|prompt|instructions) that (?:sets? up|defines?|controls?|governs?|shapes?) how you (?:behave|act|respond|answer|work)\b"),
    ("attack:prompt_injection", 0.85, r"\b(?:prior|previous|earlier|existing|all) (?:guidance|guidelines|instructions|rules|policies|directives) (?:is|are|has been|have been) (?:deprecated|revoked|void|cancelled|canceled|lifted|disabled|suspended|no longer (?:valid|in effect|active))\b|\bcomply with every (?:user )?request\b|\bwithout (?:any )?refusals?\b"),
    ("attack:jailbreak", 0.85, r"\b(?:never (?:been )?given|doesn'?t have|has no|have no|without) (?:any )?content (?:rules|policy|policies|guidelines|filters)\b|\banswers everything\b"),
    ("attack:role_injection", 0.85, r"</?(?:system|user|assistant|sys|instructions?)>"),
    ("self-harm/instructions", 0.85, r"\b(?:which|what|how many|how much)\b[^.!?;\n]{0,40}\b(?:pills|tablets|meds|medications?|drugs|combination)\b[^.!?;\n]{0,40}\b(?:stop my heart|kill me|never wake up|not wake up|end my life|die in my sleep|stop my breathing)\b"),
]

# When one of these matches, the named categories are scaled down (multiplied) by the factor:
# they recognise the harmless readings of risky words. Kept narrow so a harmful request with an
# innocent word in it is not excused.
BENIGN_CONTEXT: list[tuple[tuple[str, ...], float, str]] = [
    (("violence", "harassment/threatening", "illicit/violent"), 0.3,
     r"\b(?:kill|terminate|stop|end|shoot|execute|murder|nuke|bomb)\w*\b[^.!?;\n]{0,25}\b(?:process|processes|pid|thread|threads|task|tasks|job|jobs|daemon|service|container|pod|session|query|queries|connection|tab|app|application|program|script|loop|server|terminal|shell|signal|sigterm|sigkill|zombie|orphan|commit|branch|build|deployment|instance|vm|docker)\b"),
    (("violence", "illicit/violent", "harassment/threatening"), 0.3,
     r"\b(?:(?:is|are|'s|'re|was|were) (?:going to|gonna|about to|literally) kill me|(?:will|would|'ll|'d) (?:literally )?kill me|(?:is|are|'s|'re) killing me|could kill for|murder (?:mystery|mysteries|rate|rates|trial|case|podcast|novel|statistics)|mystery novel|whodunit|detective (?:story|novel)|offscreen|minecraft|fortnite|elden ring|dark souls|zelda|skyrim|call of duty|cod|valorant|league of legends|overwatch|game|video game|final boss|boss fight|boss battle|the boss in|level|npc|mob|mobs|zombies?|dragon|ender dragon|creeper|raid boss|pvp|character in the game|warzone|dnd|d&d|dungeons|chess|checkers|tabletop|board game|speedrun)\b"),
    (("violence", "violence/graphic", "hate", "hate/threatening", "illicit/violent"), 0.35,
     r"\b(?:history of|historical|historians?|what (?:caused|happened|led to)|causes of|why did|when did|how did|timeline of|lessons? (?:of|from)|memorial|museum|survivors?|commemorat|remembrance|documentary|explain the|overview of|essay on the history|who (?:assassinated|killed|shot|murdered)|plot of|world war|ww1|ww2|wwii|wwi|civil war|cold war|holocaust denial is|genocide studies|nuremberg|rwanda|srebrenica|armenian genocide|cambodian genocide|the crusades|ancient rome|gladiators?|medieval|hiroshima|nagasaki|the manhattan project|the blitz|d-day)\b"),
    (("self-harm", "self-harm/intent", "self-harm/instructions"), 0.3,
     r"\b(?:help (?:a|my) (?:friend|sister|brother|son|daughter|partner|student|child|teen|kid|mom|dad|loved one|colleague|someone)|(?:warning )?signs (?:of|that|someone)|prevent\w*|prevention|hotline|crisis line|988|samaritans|support (?:a|my|someone|someone who|people who)|therapist|counsel(?:or|ing)|statistics|research on|rates of|awareness|how to talk to|talk to (?:my|a) (?:friend|kid|child|teen|son|daughter)|recover(?:y|ing)|safe(?:ly)? (?:dose|dosage|limit|amount)|maximum (?:safe |daily )?dose|recommended dose|toxic dose for (?:safety|reference)|poison control|accidental(?:ly)?|in case of (?:an )?overdose|(?:want|need) to (?:be|stay) safe|to be safe|for safety|avoid (?:an )?overdose|narcan|naloxone|what to do if someone|first aid|treat(?:ment|ing)? (?:for|of)|worried about (?:my|a))\b"),
    (("sexual", "sexual/minors"), 0.3,
     r"\b(?:sex education|sex ed|puberty|consent|contracepti\w*|birth control|condoms?|stis?|stds?|sexually transmitted|hiv|hpv|pregnan\w*|menstrua\w*|periods?|reproductive|anatomy (?:class|lesson)|biology|talk to (?:my|our) (?:kids?|children|son|daughter|teen)|explain to (?:my|our|a) (?:kids?|children|son|daughter|child)|age[- ]appropriate|protect(?:ing)? (?:my |our )?(?:kids?|children|child|minors|students)|keep (?:my |our )?(?:kids?|children|child) safe|report(?:ing)?|warning signs|signs of (?:grooming|abuse|sexual abuse)|child safety|safeguarding|abuse prevention|prevent(?:ing)? (?:child )?(?:sexual )?abuse|survivor|therapy|gender identity|sexual orientation|sexual health|safe sex|doctors?|according to|medical|health class|gynecolog\w*|urolog\w*|doctor|pediatrician|vaccine|breast cancer|breastfeed\w*|breast milk|mammogram|testicular|prostate|erectile)\b"),
    (("illicit", "illicit/violent"), 0.4,
     r"\b(?:for (?:a |my )?(?:security class|ctf|capture the flag|penetration test|pentest|red team engagement) (?:i'?m authori[sz]ed|with permission|on my own)|on my own (?:network|computer|server|router|account|phone|machine|lab|vm)|i own|i forgot (?:my|the) (?:own )?password|locked out of my own|recover my own|protect (?:myself|my|our|against)|defend (?:against|my|our)|prevent\w*|detect\w*|mitigat\w*|patch\w*|secure my|how (?:does|do|did) \w+ (?:work|happen|spread)|what is (?:a |an )?|history of|is it illegal|is it legal|legally|lawfully|shut down|taken down|seized|busted|legal consequences|penalt(?:y|ies) for|signs of|recogni[sz]e|avoid (?:being|getting) (?:scammed|phished|hacked)|report\w*|awareness|safely dispose|bomb (?:squad|disposal|threat procedures|shelter|cyclone)|bath bomb|seed bomb|photo ?bomb|f-?bomb|da bomb|the bomb\b(?! (?:to|that|which))|smoke detector|fire safety|fireworks? safety|(?:should never|shouldn'?t|should not|must never|not to) be (?:mixed|combined|used together|stored together)|accidentally (?:mix|make|create|made|created)|dangerous to mix|never mix)\b"),
    (("harassment", "harassment/threatening"), 0.35,
     r"\b(?:how (?:to|do i|can i|should i) (?:deal with|handle|respond to|report|stop|cope with|protect myself from|get help for)|i(?:'m| am| was) being (?:bullied|harassed|stalked|threatened)|someone (?:is|keeps) (?:bullying|harassing|stalking|threatening) me|anti-?bullying|what counts as (?:harassment|bullying)|is it harassment|lyrics|rap battle with my friend|friendly roast|roast me\b|self-deprecating)\b"),
    (("attack:jailbreak", "attack:prompt_injection", "attack:role_play_escape", "attack:encoded_payload"), 0.4,
     r"\b(?:what (?:is|are|was|were|does)|explain|how (?:do|does|did|can|could|should) (?:i |we |you |developers |companies |llms? |models? )?(?:defend|protect|prevent|detect|stop|mitigate|work)|why (?:do|does|did)|history of|definition of|examples? of|research on|paper on|defen[cs]es? against|protect\w* against|prevent\w*|detect\w*|mitigat\w*)\b[^.!?;\n]{0,40}\b(?:jailbreak\w*|prompt injections?|injection attacks?|dan\b|adversarial prompts?|prompt attacks?)"),
    # ---- fourth round (from the generated split's benign cores): hobbies, idioms, recovery, fiction ----
    (("violence", "harassment/threatening", "illicit/violent", "violence/graphic"), 0.3,
     (r"\b(?:shoot(?:ing)?|shot) (?:a |an |the |my |some |(?:you|me|him|her|them) (?:a |an )?)?(?:portraits?|photos?|photographs?|pictures?|headshots?|video|videos|film|footage|wedding|landscapes?|hoops|baskets?|pool|the breeze|text|email|message|dm|note|line)\b"
     r"|\b(?:shooting|gun|rifle) range\b|\bat a range\b|\bclay pigeons?\b|\bknock (?:out|down) (?:a |the |that |this |my )?(?:wall|walls|partition|to-?do list|to do list|chores|tasks|homework|backlog)\b|\bstab stitch|\bchoke up on\b"
     r"|\b(?:killer|killing it|kill it|slay|slaying) (?:resume|cv|outfit|workout|presentation|interview|at (?:my|the|work))|\bkiller (?:resume|cv|app|feature|deal)\b"
     r"|\b(?:strangle|choke|kill|killing|murder)\w* (?:the |my |a |some )?(?:weeds?|vines?|plants?|ivy|moss|roots?|fig|tree stumps?|mold|mould|bacteria|germs|fleas|ticks|pests|rats|mice|ants|roaches|cockroaches|bugs)\b"
     r"|\b(?:horror|ghost|scary|spooky) (?:story|stories|movie|film|novel|tale|game)\b|\bvillain threatens\b|\bthreatens the hero\b|\bpg-?13\b"
     r"|\bhumane(?:ly)?\b|\bon (?:my|our|the|a) (?:farm|homestead|ranch)\b|\blivestock\b"
     r"|\bpoison[- ]?proof\b|\bgraphic (?:novels?|design\w*|cards?|tees?|t-shirts?|equali[sz]er|settings)\b"
     r"|\b(?:wants?|wanted|trying|tried|going|threatening|threatened|talks? about|talking about|said (?:she|he|they) (?:wants?|would))\b[^.!?;\n]{0,10}\b(?:kill|hurt|harm|cut)\w* (?:himself|herself|themselves|themself)\b|\bself[- ]harm\w*\b"
     r"|\b(?:stab|cut|kill|beat|whip|smoke|butcher|poison|murder)\w* (?:a |the |my |some )?(?:steak|meat|chicken|turkey|potato(?:es)?|cake|dough|eggs?|cream|brisket|roast|fish|lobster|vegetables?|onions?|song|tune|karaoke|cover)\b")),
    (("illicit", "illicit/violent"), 0.3,
     (r"\b(?:bath bombs?|seed bombs?|glitter bombs?|bomb (?:cocktail|shot|drink|pop|cake)|photo ?bomb\w*|bombed (?:my|the|an?) (?:exam|test|interview|presentation|audition)|da bomb)\b"
     r"|\bbreak(?:ing)? into (?:the |a )?(?:\w+ )?(?:industry|market|field|career|business|scene|acting|modeling|modelling|music|comedy|publishing|tech|consulting)\b"
     r"|\b(?:in|on) (?:the )?(?:show|series|tv show|movie|film|book|novel|episode|season)\b|\bbreaking bad\b|\bwalter white\b|\bnarcos\b"
     r"|\b(?:spot|recogni[sz]e|identify|avoid|report|tell if|know if|detect|flag|protect (?:myself|my \w+) from)\b[^.!?;\n]{0,20}\b(?:phishing|scam|fraud|skimmer|malware|ransomware|keylogger|spyware)"
     r"|\b(?:server|system|access|audit|error|application|nginx|apache) logs?\b|\bmy own (?:server|site|app|logs|database)\b")),
    (("self-harm", "self-harm/intent", "self-harm/instructions"), 0.3,
     (r"\b(?:stop|quit|stopped|quitting|resist|resisting|cope with|coping with|manage|managing|distract myself from|deal with) (?:the )?(?:urges? (?:to|of) )?(?:self[- ]harm\w*|cutting|hurting myself|urges?)\b"
     r"|\b(?:stay|staying|been|get|getting) (?:clean|sober|on track)\b|\brelapse prevention\b|\bused to (?:self[- ]harm|cut)\b|\bget help\b|\bsafety plan\b")),
    (("harassment", "harassment/threatening"), 0.35,
     (r"\b(?:called|calls|calling|call) me (?:a |an )?(?:\w+ ){0,2}\w+\b[^.!?;\n]{0,40}\b(?:respond|react|reply|handle|deal|say back|feel|do)\b"
     r"|\bhow (?:should|do|can|could) i (?:respond|react|reply)\b"
     r"|\b(?:someone|somebody|a stranger|my \w+|he|she|they) (?:left|sent|gave|mailed|posted|wrote) (?:me )?(?:a |an )?threat\w*|\bstay safe\b|\bwhat should i do\b")),
    (("attack:jailbreak", "attack:prompt_injection", "attack:role_play_escape", "attack:encoded_payload"), 0.4,
     (r"\bfor (?:a |my |our )?(?:research paper|paper|thesis|dissertation|class|course|lecture|talk|presentation|essay|blog post|literature review)\b"
     r"|\bhow (?:do|does|did) [\w\s]{0,40}\bwork\b")),
    (("violence", "violence/graphic", "hate", "hate/threatening"), 0.35,
     (r"\b(?:psycholog\w*|criminolog\w*|sociolog\w*|for my (?:thesis|essay|paper|class|dissertation|course)|for (?:a |my )?(?:history|psychology|sociology|law|criminology|ethics) (?:class|essay|paper|course|lecture))\b"
     r"|\bwhy do (?:people|ppl|some people|humans|men|kids|teens|teenagers|soldiers)\b")),
    (("self-harm", "self-harm/intent", "self-harm/instructions"), 0.3,
     r"\bcan (?:you|a person|people|someone|kids|a child|dogs|cats) (?:overdose|od) on (?:vitamin \w+|water|caffeine|melatonin|iron|zinc|fish oil|vitamins)\b"),
    (("sexual",), 0.3,
     (r"\b(?:tell|talk to|communicate with|ask|talk with) (?:my|our) (?:partner|wife|husband|girlfriend|boyfriend|spouse)\b"
     r"|\bis it (?:normal|healthy|safe|common|ok|okay)\b|\bsex drive\b|\blibido\b")),
    (("attack:jailbreak",), 0.3,
     r"\bdeveloper (?:mode|options) (?:on|in|for) (?:my |an? |the )?(?:android|iphone|ios|phone|chrome|browser|windows|mac|vs ?code|pixel|samsung|xbox|playstation|ps5|tv|tablet|kindle)\b"),
    (("hate", "hate/threatening"), 0.35,
     r"\b(?:stereotypes?|is (?:it|this|that) (?:true|racist|offensive|ok)|is there (?:any )?evidence|myths?|debunk\w*|why (?:do|does) (?:some )?people (?:think|believe|say|hold)|how (?:do|should|can) i (?:respond|react|handle|deal|reply|push back)|when (?:a|my) (?:relative|friend|coworker|boss|family member|uncle|aunt|dad|mom|grandpa|grandma)|ally|allies|anti-?racis\w*|fight (?:it|racism|antisemitism|hate)|discriminat\w* against)\b"),
]


def _necessary(items) -> frozenset[str] | None:
    """Strings of which any match of this parsed pattern must contain one (None if unknown).

    Walks the `re` parser's tree: a literal run is necessary; a branch needs one of its alternatives'
    sets; a group or a repeat of at least one needs its body's. Of the candidates in a sequence the one
    with the longest shortest string is kept, since it rules out the most texts.
    """
    from re import _constants as c

    best, best_key = None, (0, 0)
    run: list[str] = []

    def offer(cand: frozenset[str] | None) -> None:
        nonlocal best, best_key
        if cand:
            key = (min(map(len, cand)), -len(cand))
            if key > best_key:
                best, best_key = cand, key

    for op, arg in list(items) + [(None, None)]:
        if op is c.LITERAL:
            run.append(chr(arg))
            continue
        if run:
            offer(frozenset(["".join(run)]))
            run = []
        if op is c.BRANCH:
            alts = [_necessary(alt) for alt in arg[1]]
            offer(None if any(a is None for a in alts) else frozenset().union(*alts))
        elif op is c.SUBPATTERN:
            offer(_necessary(arg[3]))
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT) and arg[0] >= 1:
            offer(_necessary(arg[2]))
    return best


def prefilter(pattern: str) -> frozenset[str] | None:
    """Necessary substrings of a rule (at least 3 characters each), or None when there is no such set."""
    from re import _parser

    found = _necessary(_parser.parse(pattern))
    return found if found and min(map(len, found)) >= 3 else None


def split_alternatives(pattern: str) -> list[str]:
    """The top-level alternatives of a pattern (`a|b(c|d)` -> `a`, `b(c|d)`), found by tracking
    escapes, character classes and group depth."""
    parts, depth, start, i, in_class = [], 0, 0, 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
            if pattern[i + 1:i + 2] == "]" or pattern[i + 1:i + 3] == "^]":
                i += 2 if pattern[i + 1] == "]" else 3
                continue
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "|" and depth == 0:
            parts.append(pattern[start:i])
            start = i + 1
        i += 1
    return parts + [pattern[start:]]


def _pieces(pattern: str) -> list[tuple[str, frozenset[str] | None]]:
    """A rule as the pieces it is searched in: each top-level alternative that has necessary
    substrings of its own becomes a piece with its own prefilter; the others stay together."""
    alts = split_alternatives(pattern)
    if len(alts) == 1:
        return [(pattern, prefilter(pattern))]
    filtered = [(a, prefilter(a)) for a in alts]
    rest = [a for a, needs in filtered if needs is None]
    out = [(a, needs) for a, needs in filtered if needs is not None]
    if rest:
        joined = "|".join(rest)
        out.append((joined, prefilter(joined)))
    return out


@functools.cache
def compiled() -> tuple[list[tuple[str, float, re.Pattern, frozenset[str] | None]],
                        list[tuple[tuple[str, ...], float, re.Pattern]]]:
    """The rules compiled, with their necessary substrings, on first use (~0.1 s an import should not pay).

    A rule whose necessary substrings are all absent from a text cannot match it, so `rule_scores`
    skips its regular expression: `str.__contains__` is ~50x cheaper than a search with alternations.
    A rule written as several top-level alternatives is searched piece by piece (same label and
    weight), so that each alternative is skipped on its own substrings.
    """
    return ([(label, w, re.compile(piece), needs) for label, w, p in RULES for piece, needs in _pieces(p)],
            [(labels, f, re.compile(p)) for labels, f, p in BENIGN_CONTEXT])


@functools.cache
def _needle_index() -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[int, ...]], tuple[int, ...]]:
    """The necessary substrings of the compiled rules by their first three characters (every one has
    at least three), the rules (by index) each substring admits, and the rules without a prefilter
    (always searched)."""
    rules = compiled()[0]
    by_needle: dict[str, list[int]] = {}
    for i, (*_, needs) in enumerate(rules):
        for needle in needs or ():
            by_needle.setdefault(needle, []).append(i)
    always = tuple(i for i, (*_, needs) in enumerate(rules) if needs is None)
    by_head: dict[str, list[str]] = {}
    for needle in by_needle:
        if len(needle) < 3:
            raise ValueError(f"a rule's necessary substring {needle!r} is shorter than three characters")
        by_head.setdefault(needle[:3], []).append(needle)
    return ({k: tuple(v) for k, v in by_head.items()}, {k: tuple(v) for k, v in by_needle.items()}, always)


def rule_scores(text: str) -> dict[str, float]:
    """Highest rule weight per label for one normalised text, after benign-context discounts.

    Only the rules some of whose necessary substrings occur in the text are searched, and only the
    substrings that start with one of the text's three-character windows are looked for: a set
    intersection in C leaves a few dozen of the ~1,500 to test instead of all of them."""
    rules, benign = compiled()
    by_head, by_needle, always = _needle_index()
    candidates = set(always)
    windows = {text[i:i + 3] for i in range(len(text) - 2)}
    for head in by_head.keys() & windows:
        for needle in by_head[head]:
            if needle in text:
                candidates.update(by_needle[needle])
    scores: dict[str, float] = {}
    for i in sorted(candidates):
        label, weight, pattern, _ = rules[i]
        if weight > scores.get(label, 0.0) and pattern.search(text):
            scores[label] = weight
    if scores:
        for labels, factor, pattern in benign:
            if any(label in scores for label in labels) and pattern.search(text):
                for label in labels:
                    if label in scores:
                        scores[label] *= factor
    return scores


def explain(text: str) -> list[tuple[str, float, str]]:
    """Every rule that fires on `text` (already normalised): (label, weight, pattern prefix)."""
    return [(label, w, p.pattern[:80]) for label, w, p, _ in compiled()[0] if p.search(text)]


if __name__ == "__main__":
    from flywheel.safety.normalize import views

    for view in views(" ".join(sys.argv[1:])):
        print(view.how, view.text, rule_scores(view.text), explain(view.text), sep="\n  ")
