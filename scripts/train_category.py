"""Train the ticket category model (actions/categories.py) on nlu_data/category/.

    python scripts/train_category.py [--out models/category.pkl]

Before the final fit, a stratified 5-fold cross-validation on the training data alone
chooses the confidence threshold below which the bot asks the customer to pick the
category: the threshold with the lowest cost, a wrong queue counted twice as bad as one
question (the held-out set is never looked at here: `make eval-category` measures it).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from actions.categories import (  # noqa: E402
    DEFAULT_MODEL_PATH,
    LabelledDescription,
    build_pipeline,
    digest,
    normalise,
    read_descriptions,
    save_model,
    train_model,
    training_files,
)

THRESHOLDS = [round(0.20 + 0.05 * i, 2) for i in range(13)]  # 0.20 .. 0.80
WRONG_COST = 2.0


def cross_validated(
    examples: list[LabelledDescription], *, folds: int, seed: int
) -> list[tuple[str, float]]:
    """For each example, (predicted category, confidence) from a model that never saw it."""
    from sklearn.model_selection import StratifiedKFold

    texts = [normalise(e.text) for e in examples]
    # Stratified by category and language together, so each fold has every kind.
    strata = [f"{e.category}/{e.language}/{e.script}" for e in examples]
    labels = [e.category for e in examples]
    out: list[tuple[str, float]] = [("", 0.0)] * len(examples)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train_index, test_index in splitter.split(texts, strata):
        pipeline = build_pipeline()
        pipeline.fit([texts[i] for i in train_index], [labels[i] for i in train_index])
        probabilities = pipeline.predict_proba([texts[i] for i in test_index])
        for row, i in zip(probabilities, test_index, strict=True):
            best = int(row.argmax())
            out[i] = (str(pipeline.classes_[best]), float(row[best]))
    return out


def choose_threshold(
    examples: list[LabelledDescription], predictions: list[tuple[str, float]]
) -> tuple[float, list[list[object]]]:
    """The threshold of lowest cost, and a table of every threshold tried."""
    rows: list[list[object]] = []
    best: tuple[float, float] | None = None
    for threshold in THRESHOLDS:
        asked = wrong = right = 0
        for example, (category, confidence) in zip(examples, predictions, strict=True):
            if confidence < threshold:
                asked += 1
            elif category == example.category:
                right += 1
            else:
                wrong += 1
        cost = (WRONG_COST * wrong + asked) / len(examples)
        rows.append([threshold, asked, wrong, right, round(cost, 3)])
        if best is None or cost < best[1]:
            best = (threshold, cost)
    assert best is not None
    return best[0], rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=ROOT / "nlu_data" / "category")
    parser.add_argument("--out", type=Path, default=DEFAULT_MODEL_PATH)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)

    files = training_files(args.data)
    if not files:
        print(f"no training files in {args.data}", file=sys.stderr)
        return 2
    try:
        examples = [e for path in files for e in read_descriptions(path)]
    except ValueError as error:
        print(f"training data: {error}", file=sys.stderr)
        return 2
    started = time.process_time()
    predictions = cross_validated(examples, folds=args.folds, seed=args.seed)
    correct = sum(p == e.category for e, (p, _) in zip(examples, predictions, strict=True))
    print(
        f"[category] {len(examples)} descriptions from {len(files)} files; "
        f"{args.folds}-fold accuracy {correct / len(examples):.1%}"
    )
    for language, script in sorted({(e.language, e.script) for e in examples}):
        subset = [
            (e, p)
            for e, p in zip(examples, predictions, strict=True)
            if e.language == language and e.script == script
        ]
        hits = sum(p == e.category for e, (p, _) in subset)
        print(f"[category]   {language}/{script}: {hits}/{len(subset)} = {hits / len(subset):.1%}")
    threshold, rows = choose_threshold(examples, predictions)
    print("[category] threshold  asked  wrong  right  cost (wrong x2 + asked, per description)")
    for row in rows:
        mark = "  <- chosen" if row[0] == threshold else ""
        print(
            f"[category]   {row[0]:.2f}     {row[1]:4}  {row[2]:5}  {row[3]:5}  {row[4]:.3f}{mark}"
        )
    model = train_model(examples, threshold=threshold, trained_on=digest(files))
    save_model(model, args.out)
    print(
        f"[category] model written to {args.out} (threshold {threshold:.2f}; "
        f"{time.process_time() - started:.1f} s of CPU)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
