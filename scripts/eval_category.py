"""The ticket category model on the held-out descriptions, per category and language.

    python scripts/eval_category.py [--model models/category.pkl] [--write]

Reads nlu_data/heldout_category/ (never trained on; nlu_data/category/LABELLING.md says
how it is labelled) and reports, per language and script and per category:

- routed right: the category the desk would give with nobody asked, the routing rules
  on top of the model's likeliest category (what a ticket gets when the customer picks
  the first choice offered, or after the form stops asking);
- the model alone, without the rules;
- asked: descriptions below the confidence threshold, where the bot asks the customer
  to pick, and how often the right category is among the choices then;
- near duplicates between the held-out and the training descriptions (must be none).

With --write the tables replace the "category" section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from nlu_datasets import find_overlaps  # noqa: E402
from nlu_report import machine, pct, stamp, table, write_section  # noqa: E402

from actions.categories import (  # noqa: E402
    CATEGORIES,
    CHOICES,
    DEFAULT_MODEL_PATH,
    CategoryModelError,
    LabelledDescription,
    complaint_rules,
    load_model,
    read_descriptions,
    training_files,
)

HELDOUT = ROOT / "nlu_data" / "heldout_category"
TARGET = 0.90


def group(example: LabelledDescription) -> str:
    return {
        "latin": "English",
        "simplified": "Chinese, Simplified",
        "traditional": "Chinese, Traditional",
    }[example.script]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_PATH)
    parser.add_argument("--heldout", type=Path, default=HELDOUT)
    parser.add_argument("--benchmarks", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--write", action="store_true", help="write the section of BENCHMARKS.md")
    parser.add_argument("--errors", action="store_true", help="list every misrouted description")
    args = parser.parse_args(argv)

    try:
        model = load_model(args.model)
        examples = [
            e for path in sorted(args.heldout.glob("*.yml")) for e in read_descriptions(path)
        ]
        train = [e.text for path in training_files() for e in read_descriptions(path)]
    except (CategoryModelError, ValueError) as error:
        print(f"eval-category: {error}", file=sys.stderr)
        return 2
    if not examples:
        print(f"eval-category: no held-out descriptions in {args.heldout}", file=sys.stderr)
        return 2

    overlaps = find_overlaps([e.text for e in examples], train)
    rules = complaint_rules()
    started = time.process_time()
    guesses = model.guess_many([e.text for e in examples])
    cpu_ms = 1000 * (time.process_time() - started) / len(examples)

    # counts[group][category] = [n, routed right, model right, asked, right among choices]
    counts: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0] * 5))
    errors: list[str] = []
    for example, guess in zip(examples, guesses, strict=True):
        routed = "complaints" if rules.reason(example.text) else guess.category
        asked = not guess.confident and routed != "complaints"
        row_groups = [group(example)] + (
            ["Chinese, both scripts"] if example.language == "zh" else []
        )
        for name in row_groups:
            for key in (example.category, "all"):
                c = counts[name][key]
                c[0] += 1
                c[1] += routed == example.category
                c[2] += guess.category == example.category
                c[3] += asked
                c[4] += asked and example.category in guess.top(CHOICES)
        if routed != example.category:
            errors.append(
                f"{group(example)} | {example.category} -> {routed} "
                f"({guess.confidence:.2f}) | {example.text}"
            )

    order = ["English", "Chinese, Simplified", "Chinese, Traditional", "Chinese, both scripts"]
    summary_rows = []
    for name in order:
        c = counts[name]["all"]
        summary_rows.append(
            [
                name,
                c[0],
                pct(c[1] / c[0]),
                pct(c[2] / c[0]),
                pct(c[3] / c[0]),
                f"{c[4]}/{c[3]}" if c[3] else "-",
                "yes" if c[1] / c[0] >= TARGET else "no",
            ]
        )
    summary = table(
        [
            "held-out set",
            "descriptions",
            "routed right (rules + model)",
            "model alone",
            "asked (below threshold)",
            "right one among the choices when asked",
            ">= 90 %",
        ],
        summary_rows,
    )
    per_category_rows = []
    for category in CATEGORIES:
        row: list[object] = [category]
        for name in order[:3]:
            c = counts[name][category]
            row.append(f"{pct(c[1] / c[0])} ({c[1]}/{c[0]})" if c[0] else "-")
        per_category_rows.append(row)
    per_category = table(["category (routed right)", *order[:3]], per_category_rows)
    overlap_line = (
        "No held-out description equals or nearly equals (character-bigram Jaccard >= 0.8) "
        "a training description."
        if not overlaps
        else f"{len(overlaps)} held-out descriptions equal or nearly equal a training one: "
        + "; ".join(f"{o.heldout!r} ~ {o.train!r}" for o in overlaps[:5])
    )
    body = "\n\n".join(
        [
            "## Ticket categories on held-out descriptions (`make eval-category`)",
            f"Measured {stamp()} on {machine()}. Command: `make eval-category` "
            f"(scripts/eval_category.py, model {args.model.name} trained on "
            f"{model.trained_on}, confidence threshold {model.threshold:.2f} chosen by "
            "5-fold cross-validation of the training data). Held-out: "
            f"nlu_data/heldout_category/, {len(examples)} descriptions written before any "
            "model existed (short chat, long messages with the problem last, voice "
            'transcripts, typos). "Routed right" is the category the desk gives with '
            "nobody asked: the complaint rules on top of the model's likeliest category; "
            "below the threshold the bot asks the customer instead, offering the "
            f"{CHOICES} likeliest. Model CPU time {cpu_ms:.1f} ms per description "
            "(batch; process time).",
            summary,
            per_category,
            overlap_line,
        ]
    )
    print(body)
    if args.errors:
        print("\nMisrouted:\n" + "\n".join(errors))
    if args.write:
        write_section(args.benchmarks, "category", body)
        print(f"\n[eval-category] written to {args.benchmarks}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
