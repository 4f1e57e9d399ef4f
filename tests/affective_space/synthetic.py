"""Small generated inputs in the real formats: a SenticNet 6 module file and a WordNet-Affect mirror.

The SenticNet file has senticnet6.py's layout (`senticnet['concept'] = [13 strings]`); concepts carry
a mood, and four of their five related concepts are hubs of that mood, so a space built from the
relations can recover mood and polarity while nothing but the relations and names reach it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

POSITIVE = ["joy", "calmness", "pleasantness", "eagerness"]
NEGATIVE = ["sadness", "anger", "disgust", "fear"]
MOODS = POSITIVE + NEGATIVE
# sentic dimension and sign behind each mood (introspection, temper, attitude, sensitivity)
DIMENSION = {"joy": (0, 1), "sadness": (0, -1), "calmness": (1, 1), "anger": (1, -1),
             "pleasantness": (2, 1), "disgust": (2, -1), "eagerness": (3, 1), "fear": (3, -1)}
# emotion-category names that are also concepts: WordNet-Affect-style hubs per mood
EXTRA_HUBS = {"joy": ["amusement", "elation"], "sadness": ["sorrow"], "anger": ["wrath"], "fear": ["dread"]}

HIERARCHY = """<?xml version="1.0" encoding="UTF-8"?>
<categ-list>

  <categ name="root"/>
  <categ name="mental-state" isa="root"/>
  <categ name="affective-state" isa="mental-state"/>
  <categ name="emotion" isa="affective-state"/>
  <categ name="positive-emotion" isa="emotion"/>
  <categ name="negative-emotion" isa="emotion"/>
  <categ name="ambiguous-emotion" isa="emotion"/>
  <categ name="joy" isa="positive-emotion"/>
  <categ name="amusement" isa="joy"/>
  <categ name="elation" isa="joy"/>
  <categ name="calmness" isa="positive-emotion"/>
  <categ name="sadness" isa="negative-emotion"/>
  <categ name="sorrow" isa="sadness"/>
  <categ name="anger" isa="negative-emotion"/>
  <categ name="wrath" isa="anger"/>
  <categ name="negative-fear" isa="negative-emotion"/>
  <categ name="dread" isa="negative-fear"/>
  <categ name="surprise" isa="ambiguous-emotion"/>
  <categ name="astonishment" isa="surprise"/>
  <categ name="surprise" isa="astonishment"/>

</categ-list>
"""

SYNSETS = """<?xml version="1.0" encoding="UTF-8"?>
<syn-list>

  <noun-syn-list>
    <noun-syn id="n#05588321" categ="wrath"/>
    <noun-syn id="n#05589637" categ="joy"/>
    <noun-syn id="n#05600968" categ="sorrow"/>
  </noun-syn-list>

  <adj-syn-list>
    <adj-syn id="a#01674134" noun-id ="n#05589637" caus-stat="stat"/>
  </adj-syn-list>

</syn-list>
"""


def hubs(mood: str) -> list[str]:
    return [mood] + EXTRA_HUBS.get(mood, []) + [f"{mood}_hub{i}" for i in range(3)]


def make_table(n: int = 1200, seed: int = 0) -> dict[str, list[str]]:
    """{concept: [introspection, temper, attitude, sensitivity, mood1, mood2, polarity label, value, 5 related]}"""
    rng = np.random.default_rng(seed)
    words = [f"w{i:03d}" for i in range(150)]
    table: dict[str, list[str]] = {}
    all_hubs = [(h, m) for m in MOODS for h in hubs(m)]
    names = set()
    while len(names) < n:
        names.add(f"{words[rng.integers(150)]}_{words[rng.integers(150)]}")
    entries = [(h, m) for h, m in all_hubs] + [(c, MOODS[rng.integers(8)]) for c in sorted(names)]
    concepts = [c for c, _ in entries]
    for concept, mood in entries:
        dim, sign = DIMENSION[mood]
        sentics = ["0", "0", "0", "0"]
        value = sign * float(rng.uniform(0.3, 0.95))
        sentics[dim] = f"{value:.3f}"
        second = MOODS[rng.integers(8)] if rng.random() < 0.3 else mood
        own = hubs(mood)
        related = [own[i] for i in rng.integers(0, len(own), 4)] + [concepts[rng.integers(len(concepts))]]
        label = "positive" if mood in POSITIVE else "negative"
        table[concept] = sentics + [f"#{mood}", f"#{second}", label, f"{value:.3f}"] + related
    return table


def write_senticnet(path: Path, table: dict[str, list[str]]) -> Path:
    lines = ["#senticnet['concept_name'] = ['introspection_value', 'temper_value', 'attitude_value', "
             "'sensitivity_value', 'primary_mood', 'secondary_mood', 'polarity_label', 'polarity_value', "
             "'semantics1', 'semantics2', 'semantics3', 'semantics4', 'semantics5']", "senticnet = {}"]
    lines += [f"senticnet[{c!r}] = {v!r}" for c, v in table.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_mirror(root: Path) -> Path:
    folder = root / "wordnet-affect-1.1"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "a-hierarchy.xml").write_text(HIERARCHY)
    (folder / "a-synsets.xml").write_text(SYNSETS)
    return root
