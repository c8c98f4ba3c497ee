"""The object-noun vocabulary behind the noun-precision (hallucination) metric.

Following CHAIR (Rohrbach et al., "Object Hallucination in Image Captioning",
EMNLP 2018), a caption's object nouns are found by matching its tokens against
a fixed table of surface forms, each mapped to a *concept*: one of the 80 COCO
categories (so it can be checked against the image's instance annotations),
or a plain noun that captioners built on ImageNet-style labels produce and
that references can mention (checked against the references only).

The table is curated by hand on purpose. Words that are usually something
else in captions are left out rather than guessed at: "watch" and "fly" are
mostly verbs, "glass" is mostly a material, "pitcher" is a jug in ImageNet and
a player in COCO, "crane" a bird or a machine. Multi-word entries exist where
the head word alone would name the wrong thing ("table lamp" is not a table,
"hot dog" not a dog, "toilet tissue" not a toilet); the longest match wins.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

#: Every non-word character (and "_") becomes a space. Shared by all metrics so
#: that n-gram and noun matching see the same tokens.
_PUNCT = re.compile(r"[^\w\s]|_")


def tokenize(text: str) -> list[str]:
    """Lowercase, punctuation to spaces, split on whitespace.

    coco-caption runs the Stanford PTB tokenizer (Java) instead. The two
    differ on hyphens ("hot-dog" stays one PTB token, here it is two) and
    clitics ("man's" is "man 's" there, "man s" here), so scores computed on
    these tokens are close to, but not identical with, the official numbers.
    """
    return _PUNCT.sub(" ", text.lower()).split()


# -- the table -----------------------------------------------------------------

#: COCO category -> surface forms (singular; plurals are generated). Synonyms
#: follow CHAIR's list, extended with the ImageNet labels that name the same
#: thing (dog breeds are dogs, "trolleybus" is a bus, "tusker" an elephant).
COCO_SYNONYMS: dict[str, tuple[str, ...]] = {
    "person": (
        "person", "people", "man", "woman", "boy", "girl", "child", "kid", "baby", "toddler", "adult",
        "guy", "lady", "gentleman", "teenager", "teen", "player", "ballplayer", "skier", "snowboarder",
        "surfer", "skater", "skateboarder", "rider", "biker", "cyclist", "bicyclist", "motorcyclist",
        "batter", "catcher", "umpire", "chef", "baker", "worker", "officer", "policeman", "policewoman",
        "cop", "soldier", "driver", "passenger", "pedestrian", "tourist", "traveler", "student",
        "doctor", "nurse", "bride", "groom", "mother", "father", "mom", "dad", "son", "daughter",
        "brother", "sister", "grandmother", "grandfather", "crowd", "diver", "scuba diver", "cowboy",
        "fisherman", "businessman", "businesswoman", "spectator", "athlete", "vendor", "farmer",
    ),
    "bicycle": ("bicycle", "bike", "mountain bike", "tricycle", "unicycle", "trike"),
    "car": (
        "car", "automobile", "van", "minivan", "sedan", "suv", "hatchback", "cab", "taxi", "taxicab",
        "jeep", "limo", "limousine", "convertible", "sports car", "race car", "coupe", "station wagon",
        "beach wagon", "police car", "police van", "model t",
    ),
    "motorcycle": ("motorcycle", "motorbike", "motor bike", "motor cycle", "scooter", "motor scooter", "moped", "dirt bike"),
    "airplane": (
        "airplane", "aeroplane", "plane", "jet", "jetliner", "airliner", "aircraft", "warplane",
        "biplane", "seaplane", "airbus",
    ),
    "bus": ("bus", "minibus", "trolleybus", "school bus", "double decker", "trolley"),
    "train": (
        "train", "locomotive", "electric locomotive", "steam locomotive", "streetcar", "tram", "subway",
        "freight car", "passenger car", "caboose", "boxcar",
    ),
    "truck": (
        "truck", "pickup", "pickup truck", "lorry", "fire engine", "fire truck", "firetruck", "garbage truck",
        "tow truck", "trailer truck", "dump truck", "moving van",
    ),
    "boat": (
        "boat", "ship", "sailboat", "motorboat", "speedboat", "canoe", "kayak", "yacht", "ferry",
        "ferryboat", "tugboat", "barge", "gondola", "catamaran", "trimaran", "schooner", "yawl",
        "container ship", "lifeboat", "fireboat", "rowboat", "paddleboat", "houseboat", "vessel",
        "aircraft carrier", "pirate ship",
    ),
    "traffic light": ("traffic light", "traffic signal", "stoplight", "stop light"),
    "fire hydrant": ("fire hydrant", "hydrant"),
    "stop sign": ("stop sign",),
    "parking meter": ("parking meter", "meter"),
    "bench": ("bench", "park bench", "pew"),
    "bird": (
        "bird", "rooster", "cock", "hen", "chicken", "ostrich", "finch", "goldfinch", "junco", "bunting",
        "robin", "jay", "bluejay", "magpie", "chickadee", "eagle", "vulture", "owl", "grouse", "ptarmigan",
        "peacock", "quail", "partridge", "parrot", "macaw", "cockatoo", "lorikeet", "hornbill",
        "hummingbird", "toucan", "drake", "duck", "mallard", "merganser", "goose", "swan", "stork",
        "spoonbill", "flamingo", "heron", "egret", "bittern", "sandpiper", "pelican", "penguin",
        "albatross", "seagull", "gull", "pigeon", "dove", "sparrow", "crow", "raven", "woodpecker",
        "falcon", "hawk", "parakeet", "songbird", "ouzel", "bee eater", "bulbul", "brambling",
    ),
    "cat": ("cat", "kitten", "kitty", "feline", "tabby", "tiger cat"),
    "dog": (
        "dog", "puppy", "pup", "doggy", "doggie", "canine", "hound", "mutt", "chihuahua", "spaniel",
        "terrier", "bullterrier", "retriever", "poodle", "beagle", "labrador", "collie", "sheepdog",
        "german shepherd", "husky", "dalmatian", "pug", "bulldog", "rottweiler", "doberman", "schnauzer",
        "dachshund", "corgi", "greyhound", "whippet", "mastiff", "bull mastiff", "great dane",
        "saint bernard", "pomeranian", "samoyed", "malamute", "pinscher", "setter", "basset",
        "bloodhound", "weimaraner", "pitbull", "pit bull", "boston bull", "papillon", "pekinese",
        "shih tzu", "airedale", "vizsla", "kelpie", "malinois", "keeshond", "basenji", "mountain dog",
        "ridgeback", "bluetick", "coonhound", "foxhound", "wolfhound", "deerhound", "elkhound", "otterhound",
        "redbone", "borzoi", "saluki", "clumber", "springer", "kuvasz", "schipperke", "groenendael", "briard",
        "komondor", "appenzeller", "entlebucher", "affenpinscher", "leonberg", "newfoundland", "great pyrenees",
        "griffon",
    ),
    "horse": ("horse", "pony", "foal", "colt", "mare", "stallion", "racehorse", "clydesdale", "horse cart"),
    "sheep": ("sheep", "lamb", "ram", "ewe", "goat"),
    "cow": (
        "cow", "cattle", "bull", "calf", "ox", "heifer", "buffalo", "water buffalo", "bison", "oxcart",
        "longhorn", "holstein",
    ),
    "elephant": ("elephant", "tusker"),
    "bear": ("bear", "grizzly", "ice bear", "panda"),
    "zebra": ("zebra",),
    "giraffe": ("giraffe",),
    "backpack": ("backpack", "knapsack", "rucksack", "back pack"),
    "umbrella": ("umbrella", "parasol"),
    "handbag": ("handbag", "purse", "wallet", "briefcase"),
    "tie": ("tie", "necktie"),
    "suitcase": ("suitcase", "suit case", "luggage", "baggage"),
    "frisbee": ("frisbee", "flying disc"),
    "skis": ("ski", "skis"),
    "snowboard": ("snowboard",),
    "sports ball": (
        "ball", "soccer ball", "tennis ball", "golf ball", "rugby ball", "croquet ball", "ping pong ball",
        "basketball", "volleyball",
    ),
    "kite": ("kite",),
    "baseball bat": ("baseball bat", "bat"),
    "baseball glove": ("baseball glove", "glove", "mitt", "baseball mitt"),
    "skateboard": ("skateboard", "skate board"),
    "surfboard": ("surfboard", "surf board", "boogie board", "bodyboard", "wakeboard", "skimboard", "paddle board"),
    "tennis racket": ("tennis racket", "racket", "racquet", "tennis racquet"),
    "bottle": ("bottle", "beer bottle", "wine bottle", "water bottle", "pop bottle", "pill bottle"),
    "wine glass": ("wine glass", "wineglass", "goblet"),
    "cup": ("cup", "mug", "coffee mug", "coffee cup", "teacup", "tea cup", "measuring cup", "beer glass"),
    "fork": ("fork",),
    "knife": ("knife", "pocketknife", "cleaver"),
    "spoon": ("spoon", "wooden spoon"),
    "bowl": ("bowl", "soup bowl", "mixing bowl"),
    "banana": ("banana",),
    "apple": ("apple", "granny smith"),
    "sandwich": ("sandwich", "burger", "hamburger", "cheeseburger", "panini", "hoagie"),
    "orange": ("orange", "tangerine", "mandarin", "clementine"),
    "broccoli": ("broccoli",),
    "carrot": ("carrot",),
    "hot dog": ("hot dog", "hotdog"),
    "pizza": ("pizza",),
    "donut": ("donut", "doughnut"),
    "cake": ("cake", "cupcake", "cheesecake"),
    "chair": ("chair", "stool", "armchair", "rocking chair", "folding chair", "barber chair", "highchair", "high chair"),
    "couch": ("couch", "sofa", "studio couch", "loveseat", "love seat", "futon", "settee", "recliner"),
    "potted plant": ("potted plant", "houseplant", "house plant", "plant", "flowerpot", "flower pot"),
    "bed": ("bed", "four poster"),
    "dining table": ("dining table", "table", "desk", "picnic table", "coffee table"),
    "toilet": ("toilet", "toilet seat", "urinal", "commode", "lavatory", "potty"),
    "tv": (
        "tv", "television", "monitor", "screen", "computer monitor", "computer screen", "flat screen",
        "flatscreen", "tv set",
    ),
    "laptop": ("laptop", "notebook", "computer", "netbook", "macbook", "desktop computer"),
    "mouse": ("mouse", "computer mouse"),
    "remote": ("remote", "remote control", "controller", "game controller"),
    "keyboard": ("keyboard", "computer keyboard", "typewriter keyboard", "space bar"),
    "cell phone": (
        "cell phone", "cellphone", "cellular telephone", "mobile phone", "smartphone", "phone",
        "telephone", "dial telephone", "pay phone", "iphone",
    ),
    "microwave": ("microwave", "microwave oven"),
    "oven": ("oven", "stove", "stovetop", "toaster oven"),
    "toaster": ("toaster",),
    "sink": ("sink", "washbasin"),
    "refrigerator": ("refrigerator", "fridge", "freezer", "icebox"),
    "book": ("book", "novel", "paperback", "hardcover", "comic book", "book jacket"),
    "clock": ("clock", "analog clock", "digital clock", "wall clock", "alarm clock"),
    "vase": ("vase",),
    "scissors": ("scissors",),
    "teddy bear": ("teddy bear", "teddy", "teddybear", "stuffed bear", "stuffed animal"),
    "hair drier": ("hair drier", "hair dryer", "hairdryer", "blow dryer", "blowdryer"),
    "toothbrush": ("toothbrush", "tooth brush"),
}

#: Plain object nouns outside COCO, as concept -> surface forms. Mostly the
#: concrete nouns in ImageNet labels (what the offline captioner says), grouped
#: the way a reference would say them ("seashore" and "sandbar" are a beach).
EXTRA_NOUNS: dict[str, tuple[str, ...]] = {
    # animals
    "lion": ("lion",), "tiger": ("tiger",), "leopard": ("leopard", "jaguar", "cheetah", "cougar", "lynx"),
    "wolf": ("wolf", "coyote", "dingo"), "fox": ("fox",), "hyena": ("hyena",),
    "monkey": ("monkey", "baboon", "macaque", "marmoset", "capuchin", "spider monkey", "howler monkey", "squirrel monkey"),
    "ape": ("ape", "gorilla", "chimpanzee", "chimp", "orangutan", "gibbon"),
    "deer": ("deer", "antelope", "gazelle", "impala", "ibex", "moose", "elk"),
    "camel": ("camel",), "llama": ("llama", "alpaca"), "pig": ("pig", "hog", "boar", "warthog", "piglet"),
    "hippo": ("hippo", "hippopotamus"), "rhino": ("rhino", "rhinoceros"),
    "rabbit": ("rabbit", "bunny", "hare"), "squirrel": ("squirrel", "fox squirrel", "chipmunk"),
    "rodent": ("hamster", "guinea pig", "rat", "marmot", "beaver", "porcupine"),
    "fish": ("fish", "goldfish", "tench", "shark", "tiger shark", "stingray", "eel", "lionfish", "pufferfish", "sturgeon", "salmon", "trout"),
    "turtle": ("turtle", "tortoise", "terrapin"), "lizard": ("lizard", "iguana", "chameleon", "gecko"),
    "crocodile": ("crocodile", "alligator"), "snake": ("snake", "python", "cobra", "viper", "boa constrictor"),
    "frog": ("frog", "bullfrog", "toad"), "crab": ("crab", "lobster", "crayfish"),
    "insect": ("insect", "butterfly", "bee", "ant", "beetle", "tiger beetle", "ladybug", "dragonfly", "grasshopper", "cabbage butterfly"),
    "spider": ("spider", "tarantula", "scorpion"), "spider web": ("spider web", "cobweb"),
    "whale": ("whale",), "dolphin": ("dolphin",), "seal": ("sea lion", "walrus"), "otter": ("otter",),
    "kangaroo": ("kangaroo", "wallaby"), "koala": ("koala",), "snail": ("snail", "slug"),
    "jellyfish": ("jellyfish",), "starfish": ("starfish",),
    # food and drink
    "bread": ("bread", "french loaf", "loaf", "baguette", "toast"), "bagel": ("bagel",), "pretzel": ("pretzel",),
    "burrito": ("burrito",), "ice cream": ("ice cream", "ice lolly", "popsicle"),
    "potato": ("potato", "mashed potato"), "cabbage": ("cabbage", "head cabbage"), "cauliflower": ("cauliflower",),
    "squash": ("squash", "zucchini", "spaghetti squash", "acorn squash", "butternut squash"),
    "cucumber": ("cucumber",), "artichoke": ("artichoke",), "pepper": ("pepper", "bell pepper"),
    "mushroom": ("mushroom", "hen of the woods", "coral fungus", "agaric"), "strawberry": ("strawberry",),
    "lemon": ("lemon", "lime"), "fig": ("fig",), "pineapple": ("pineapple",), "pomegranate": ("pomegranate",),
    "fruit": ("fruit", "jackfruit", "custard apple"), "tomato": ("tomato",), "corn": ("corn",),
    "soup": ("soup", "consomme", "hot pot", "stew"), "pasta": ("pasta", "spaghetti", "carbonara"),
    "meat": ("meat", "meat loaf", "steak"), "pie": ("pie", "potpie"), "guacamole": ("guacamole",),
    "dessert": ("dessert", "trifle", "pudding"), "wine": ("wine", "red wine"), "coffee": ("coffee", "espresso"),
    "chocolate": ("chocolate", "chocolate sauce"), "dough": ("dough",), "hay": ("hay",),
    # tableware and kitchen
    "plate": ("plate", "platter"), "tray": ("tray",), "dish rack": ("plate rack", "dish rack"),
    "pot": ("teapot", "coffeepot", "coffee pot", "caldron", "cauldron", "crock pot", "dutch oven", "saucepan"),
    "pan": ("pan", "frying pan", "skillet", "wok"), "jug": ("jug", "water jug", "whiskey jug"),
    "can": ("milk can", "soda can", "trash can", "garbage can", "ashcan"), "spatula": ("spatula",),
    "ladle": ("ladle",), "strainer": ("strainer", "colander"), "coffee maker": ("coffee maker", "espresso maker"),
    "shaker": ("shaker", "saltshaker", "salt shaker", "cocktail shaker"),
    # furniture and household
    "lamp": ("lamp", "table lamp", "desk lamp", "floor lamp", "lampshade", "lamp shade"),
    "pillow": ("pillow", "cushion"), "blanket": ("blanket", "quilt", "comforter", "duvet"),
    "curtain": ("curtain", "shower curtain", "theater curtain", "drape"), "blind": ("blind", "window shade"),
    "window": ("window", "window screen"), "door": ("door", "sliding door", "doorway"),
    "cabinet": ("cabinet", "china cabinet", "medicine chest", "cupboard", "chiffonier", "wardrobe", "dresser"),
    "shelf": ("shelf", "bookshelf", "bookcase"), "rug": ("rug", "carpet", "prayer rug", "doormat"),
    "towel": ("towel", "bath towel", "paper towel", "dishrag"), "toilet paper": ("toilet paper", "toilet tissue"),
    "bathtub": ("bathtub", "bath tub", "tub"), "shower": ("shower",), "crib": ("crib", "cradle", "bassinet"),
    "fan": ("electric fan", "ceiling fan"), "radiator": ("radiator", "space heater", "heater"),
    "dishwasher": ("dishwasher",), "washing machine": ("washing machine", "washer"),
    "vacuum": ("vacuum", "vacuum cleaner"), "candle": ("candle",), "mirror": ("mirror", "car mirror"),
    "basket": ("basket", "shopping basket", "hamper"), "bucket": ("bucket", "pail"),
    "box": ("box", "crate", "carton"), "barrel": ("barrel", "rain barrel"), "soap": ("soap", "soap dispenser"),
    "pool table": ("pool table", "billiard table"), "fireplace": ("fireplace", "fire screen"),
    # electronics
    "camera": ("camera", "reflex camera", "polaroid camera"), "speaker": ("speaker", "loudspeaker"),
    "printer": ("printer", "photocopier"), "projector": ("projector",), "radio": ("radio",),
    "microphone": ("microphone",), "headphones": ("headphones", "headphone", "headset"),
    # clothing and accessories
    "hat": ("hat", "cowboy hat", "sombrero", "cap", "baseball cap", "bonnet", "mortarboard", "bathing cap", "shower cap"),
    "helmet": ("helmet", "crash helmet", "football helmet"), "sunglasses": ("sunglasses", "sunglass"),
    "shirt": ("shirt", "t shirt", "tshirt", "jersey", "sweatshirt", "blouse"), "jacket": ("jacket",),
    "coat": ("coat", "fur coat", "trench coat", "lab coat", "poncho", "cloak"), "sweater": ("sweater", "cardigan"),
    "suit": ("suit",), "dress": ("dress", "gown", "kimono"), "skirt": ("skirt", "miniskirt", "overskirt"),
    "jeans": ("jeans", "jean"), "shoe": ("shoe", "running shoe", "sneaker", "sandal", "loafer", "clog"),
    "boot": ("boot", "cowboy boot"), "sock": ("sock", "christmas stocking", "stocking"), "scarf": ("scarf",),
    "apron": ("apron",), "uniform": ("uniform", "military uniform"),
    "swimsuit": ("swimsuit", "bikini", "swimming trunks", "maillot"),
    "mask": ("mask", "ski mask", "gasmask", "gas mask", "oxygen mask"), "necklace": ("necklace",),
    "wristwatch": ("wristwatch", "digital watch", "stopwatch"), "mitten": ("mitten",), "wig": ("wig",),
    "bib": ("bib",), "diaper": ("diaper",), "pajamas": ("pajamas", "pajama"),
    # sports and outdoor gear
    "paddle": ("paddle", "oar"), "snowmobile": ("snowmobile",), "sled": ("sled", "bobsled", "dogsled", "dog sled"),
    "tent": ("tent", "mountain tent", "yurt"), "parachute": ("parachute", "paraglider"), "swing": ("swing",),
    "balloon": ("balloon", "hot air balloon"), "scoreboard": ("scoreboard",), "home plate": ("home plate",),
    "cart": ("cart", "shopping cart", "golfcart", "golf cart"),
    # vehicles outside COCO
    "tractor": ("tractor", "forklift", "harvester", "snowplow"), "ambulance": ("ambulance",), "tank": ("tank",),
    "rv": ("rv", "recreational vehicle", "mobile home", "camper van"), "airship": ("airship", "blimp"),
    "space shuttle": ("space shuttle",), "go kart": ("go kart", "kart"), "rickshaw": ("rickshaw", "jinrikisha"),
    "wheel": ("wheel", "car wheel", "paddlewheel", "potter s wheel"),
    # buildings, structures and places
    "bridge": ("bridge", "steel arch bridge", "suspension bridge", "viaduct"),
    "fence": ("fence", "picket fence", "chainlink fence", "chain link fence", "worm fence"),
    "wall": ("wall", "stone wall"), "roof": ("roof", "tile roof", "thatch"),
    "tower": ("tower", "water tower"), "church": ("church", "chapel", "cathedral", "mosque", "monastery", "stupa"),
    "castle": ("castle", "palace"), "barn": ("barn",), "greenhouse": ("greenhouse",), "fountain": ("fountain",),
    "lighthouse": ("lighthouse", "beacon"), "pier": ("pier", "dock", "wharf", "breakwater", "boathouse"),
    "dam": ("dam",), "sign": ("sign", "street sign", "signboard", "billboard"),
    "pole": ("pole", "flagpole", "totem pole", "maypole"), "arch": ("arch", "triumphal arch"),
    "monument": ("monument", "obelisk", "megalith"),
    "store": ("store", "shop", "bakery", "bookshop", "butcher shop", "shoe shop", "tobacco shop", "toyshop",
              "grocery store", "confectionery", "barbershop"),
    "restaurant": ("restaurant",), "library": ("library",), "cinema": ("cinema", "theater"),
    "patio": ("patio",), "stage": ("stage",), "mailbox": ("mailbox",), "gas pump": ("gas pump",),
    "vending machine": ("vending machine",), "atm": ("atm", "cash machine"), "manhole": ("manhole", "manhole cover"),
    # landscape
    "beach": ("beach", "seashore", "shore", "coast", "sandbar", "sand bar"),
    "lake": ("lake", "lakeside", "lakeshore", "pond"), "mountain": ("mountain", "alp"), "valley": ("valley",),
    "cliff": ("cliff", "promontory", "cliff dwelling"), "volcano": ("volcano",), "reef": ("coral reef", "reef"),
    "geyser": ("geyser",),
    "flower": ("flower", "daisy", "rose", "tulip", "sunflower", "lady s slipper", "rapeseed"),
    # instruments, tools, weapons
    "guitar": ("guitar", "acoustic guitar", "electric guitar"), "piano": ("piano", "grand piano"),
    "violin": ("violin", "cello", "fiddle"), "drum": ("drum", "steel drum"), "trumpet": ("trumpet", "cornet", "french horn", "trombone"),
    "saxophone": ("saxophone", "sax"), "flute": ("flute",), "accordion": ("accordion",),
    "hammer": ("hammer",), "shovel": ("shovel",), "broom": ("broom",), "lawn mower": ("lawn mower", "lawnmower"),
    "chainsaw": ("chainsaw", "chain saw"), "drill": ("drill", "power drill"), "lock": ("padlock", "combination lock"),
    "gun": ("gun", "rifle", "assault rifle", "revolver", "pistol"), "cannon": ("cannon",), "shield": ("shield",),
    "menu": ("menu",), "envelope": ("envelope",),
}

COCO_CATEGORIES: frozenset[str] = frozenset(COCO_SYNONYMS)

# Plural forms the simple rules below get wrong.
_IRREGULAR_PLURALS = {
    "person": "people", "child": "children", "knife": "knives", "mouse": "mice", "goose": "geese",
    "ox": "oxen", "wolf": "wolves", "calf": "calves", "loaf": "loaves", "shelf": "shelves", "scarf": "scarves",
    "potato": "potatoes", "tomato": "tomatoes", "volcano": "volcanoes", "human": "humans", "bus": "buses",
    "hippopotamus": "hippopotami", "cactus": "cacti", "leaf": "leaves", "tooth": "teeth",
}
# Words whose plural is the same word, or that are plural already.
_NO_PLURAL = frozenset({
    "sheep", "deer", "fish", "moose", "bison", "cattle", "people", "skis", "scissors", "sunglasses", "jeans",
    "broccoli", "luggage", "baggage", "cauliflower", "guacamole", "hay", "corn", "dough", "headphones",
    "pajamas", "swimming trunks", "pasta", "spaghetti", "carbonara", "consomme", "chocolate", "coffee",
    "espresso", "wine", "toast", "elk", "hen of the woods", "salmon", "trout", "squash", "meat", "bread", "soap",
    "ice cream", "toilet paper", "toilet tissue", "rapeseed", "thatch",
})

# "orange" is a colour at least as often as a fruit. It counts as the fruit
# only when nothing that it could be describing follows it.
_COLOUR_NOUNS = frozenset({"orange"})
_NOT_MODIFIED = frozenset({
    "on", "in", "with", "is", "are", "sits", "sitting", "next", "near", "of", "at", "by", "that", "which",
    "for", "from", "to", "sliced", "slices", "half", "halves", "peel", "peels", "juice",
})


def plural(word: str) -> str:
    """English plural of a surface form (the last word of a phrase changes)."""
    head, _, last = word.rpartition(" ")
    prefix = head + " " if head else ""
    if word in _NO_PLURAL or last in _NO_PLURAL:
        return word
    if last in _IRREGULAR_PLURALS:
        return prefix + _IRREGULAR_PLURALS[last]
    if last.endswith("man") and last != "human":
        return prefix + last[:-3] + "men"
    if last.endswith(("s", "x", "z", "ch", "sh")):
        return prefix + last + "es"
    if last.endswith("y") and last[-2:-1] not in ("a", "e", "i", "o", "u"):
        return prefix + last[:-1] + "ies"
    return prefix + last + "s"


@dataclass(frozen=True)
class _Entry:
    concept: str
    #: The singular and plural token sequences: "the word or its singular/plural".
    forms: frozenset[tuple[str, ...]]


def _build_lexicon() -> dict[tuple[str, ...], _Entry]:
    lexicon: dict[tuple[str, ...], _Entry] = {}
    for table in (COCO_SYNONYMS, EXTRA_NOUNS):
        for concept, surfaces in table.items():
            for surface in surfaces:
                forms = frozenset({tuple(tokenize(surface)), tuple(tokenize(plural(surface)))})
                entry = _Entry(concept, forms)
                for form in forms:
                    other = lexicon.get(form)
                    # A form in two groups would make the metric depend on table order.
                    if other is not None and other.concept != concept:
                        raise ValueError(f"noun table: {' '.join(form)!r} is both {other.concept!r} and {concept!r}")
                    if other is None:
                        lexicon[form] = entry
    return lexicon


_LEXICON = _build_lexicon()
_MAX_WORDS = max(len(k) for k in _LEXICON)


@dataclass(frozen=True)
class NounMention:
    """One object noun found in a text."""

    words: tuple[str, ...]  # as written (lowercased), e.g. ("motorbikes",)
    concept: str  # e.g. "motorcycle"
    forms: frozenset[tuple[str, ...]]  # singular and plural token sequences

    @property
    def is_coco(self) -> bool:
        return self.concept in COCO_CATEGORIES

    @property
    def text(self) -> str:
        return " ".join(self.words)


def object_nouns(text: str | Sequence[str]) -> list[NounMention]:
    """Object nouns in ``text`` (a string or its tokens), left to right, longest match first."""
    tokens = tokenize(text) if isinstance(text, str) else list(text)
    found: list[NounMention] = []
    i = 0
    while i < len(tokens):
        for size in range(min(_MAX_WORDS, len(tokens) - i), 0, -1):
            words = tuple(tokens[i : i + size])
            entry = _LEXICON.get(words)
            if entry is None:
                continue
            if words[-1] in _COLOUR_NOUNS and i + size < len(tokens) and tokens[i + size] not in _NOT_MODIFIED:
                continue  # "an orange cat": a colour
            found.append(NounMention(words, entry.concept, entry.forms))
            i += size
            break
        else:
            i += 1
    return found


def ngram_set(token_lists: Iterable[Sequence[str]], max_n: int = _MAX_WORDS) -> set[tuple[str, ...]]:
    """Every n-gram (n <= max_n) of the given token lists, to look words up in."""
    out: set[tuple[str, ...]] = set()
    for tokens in token_lists:
        for n in range(1, max_n + 1):
            out.update(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    return out
