"""The desk's NLU pipeline on public benchmarks: BANKING77 and CLINC150 (with out-of-scope).

Runs in .venv-bot. Reads the datasets read-only from ../shared/eval/data, converts them to
Rasa NLU YAML under .run/bench/ (git-ignored; the data is never committed), trains the
pipeline of config.yml on each training set (FAQ selector dropped: the benchmarks
have no retrieval intents; DIET's epochs may be reduced on the command line), parses the test
sets in process, and writes accuracy, out-of-scope recall, training time and parse
latency beside the published numbers to BENCHMARKS.md.

CLINC150 follows its README: train on train + oos_train (oos as a 151st intent), choose
the fallback threshold on val + oos_val only, report on test + oos_test.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.eval_nlu import load_agent, parse_all  # noqa: E402
from scripts.nlu_datasets import read_banking77, read_clinc150, to_rasa_yaml  # noqa: E402
from scripts.nlu_metrics import (  # noqa: E402
    Scored,
    choose_threshold,
    classification_report,
    fallback_outcome,
    percentile,
)
from scripts.nlu_report import machine, pct, stamp, table, write_section  # noqa: E402

DATA = ROOT.parent / "shared" / "eval" / "data"
WORK = ROOT / ".run" / "bench"
OOS = "oos"


CLASSIFIERS = (
    "DIETClassifier",
    "LogisticRegressionClassifier",
    "bot.nlu.classifier.DeskIntentClassifier",
)
# Answer selectors need retrieval intents, which the public benchmarks don't have.
SELECTORS = ("ResponseSelector", "bot.nlu.faq_selector.FaqTopicSelector")


def bench_config(config: Path, epochs: int | None, overrides: dict[str, Any]) -> dict[str, Any]:
    """config.yml's NLU pipeline without the FAQ answer selector; the intent classifier with
    ``overrides`` (and ``epochs``, when it is DIET)."""
    source = yaml.safe_load(config.read_text(encoding="utf-8"))
    pipeline = []
    for component in source["pipeline"]:
        if component["name"] in SELECTORS:
            continue
        component = copy.deepcopy(component)
        if component["name"] in CLASSIFIERS:
            if component["name"] == "DIETClassifier" and epochs is not None:
                component["epochs"] = epochs
            component.update(overrides)
        pipeline.append(component)
    return {
        "recipe": source.get("recipe", "default.v1"),
        "language": source.get("language", "en"),
        "assistant_id": "nlu-benchmark",
        "pipeline": pipeline,
        "policies": [],
    }


def train(name: str, examples: list[tuple[str, str]], config: dict[str, Any]) -> tuple[Path, float]:
    """Write the YAML and config under .run/bench/<name>/ and train; (model, seconds)."""
    from rasa.model_training import train_nlu

    folder = WORK / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.yml").write_text(
        to_rasa_yaml(examples, f"{name}: converted by scripts/bench_nlu.py; do not commit"),
        encoding="utf-8",
    )
    plain = {k: v for k, v in config.items() if not k.startswith("_")}
    (folder / "config.yml").write_text(yaml.safe_dump(plain, sort_keys=False), encoding="utf-8")
    print(f"[bench] {name}: training on {len(examples)} examples (progress below)", file=sys.stderr)
    started = time.perf_counter()
    model = train_nlu(
        config=str(folder / "config.yml"),
        nlu_data=str(folder / "train.yml"),
        output=str(folder / "models"),
        fixed_model_name=name,
    )
    seconds = time.perf_counter() - started
    print(f"[bench] {name}: trained in {seconds:.0f} s", file=sys.stderr)
    if not model:
        raise RuntimeError(f"training {name} produced no model")
    return Path(model), seconds


def score(agent: Any, rows: list[tuple[str, str]], label: str) -> tuple[list[Scored], list[float]]:
    """Parse every text; (gold + ranking before fallback, milliseconds per parse)."""

    async def run() -> Any:
        await agent.parse_message("warm up")
        return await parse_all(agent, [t for t, _ in rows], label)

    parsed = asyncio.run(run())
    scored = [Scored(gold, p.ranking) for (_, gold), p in zip(rows, parsed, strict=True)]
    return scored, [p.millis for p in parsed]


def top_accuracy(items: list[Scored]) -> float:
    """Top-1 accuracy with no fallback."""
    gold = [s.gold for s in items]
    return classification_report(gold, [s.ranking[0][0] for s in items]).accuracy


def banking77(config: dict[str, Any], results: dict[str, Any]) -> None:
    """BANKING77 train -> test, top-1 accuracy."""
    train_rows = read_banking77(DATA / "banking77" / "train.csv")
    test_rows = read_banking77(DATA / "banking77" / "test.csv")
    (WORK / "banking77").mkdir(parents=True, exist_ok=True)
    (WORK / "banking77" / "test.yml").write_text(to_rasa_yaml(test_rows), encoding="utf-8")
    model, seconds = train("banking77", train_rows, config)
    agent = load_agent(model)
    items, millis = score(agent, test_rows, "banking77 test")
    results["banking77"] = {
        "train_examples": len(train_rows),
        "test_examples": len(test_rows),
        "train_seconds": seconds,
        "accuracy": top_accuracy(items),
        "p50_ms": percentile(millis, 50),
        "p99_ms": percentile(millis, 99),
    }


def clinc150(config: dict[str, Any], results: dict[str, Any]) -> None:
    """CLINC150 Full, oos-train, with a fallback threshold chosen on val."""
    splits = read_clinc150(DATA / "clinc150" / "data_full.json")
    train_rows = splits["train"] + splits["oos_train"]
    val_rows = splits["val"] + splits["oos_val"]
    test_rows = splits["test"] + splits["oos_test"]
    for name, rows in (("val", val_rows), ("test", test_rows)):
        (WORK / "clinc150").mkdir(parents=True, exist_ok=True)
        (WORK / "clinc150" / f"{name}.yml").write_text(to_rasa_yaml(rows), encoding="utf-8")
    model, seconds = train("clinc150", train_rows, config)
    agent = load_agent(model)
    val, _ = score(agent, val_rows, "clinc150 val")
    test, millis = score(agent, test_rows, "clinc150 test")
    thresholds = [round(0.05 * i, 2) for i in range(20)]
    best = None
    for ambiguity in (0.0, 0.05, 0.1, 0.2):
        candidate, _ = choose_threshold(val, thresholds, ambiguity, out_of_scope=OOS)
        if best is None or candidate.handled > best[0].handled:
            best = (candidate, ambiguity)
    assert best is not None
    chosen, ambiguity = best
    none = fallback_outcome(test, 0.0, 0.0, out_of_scope=OOS)
    tuned = fallback_outcome(test, chosen.threshold, ambiguity, out_of_scope=OOS)
    desk = fallback_outcome(
        test, config["_desk_threshold"], config["_desk_ambiguity"], out_of_scope=OOS
    )
    results["clinc150"] = {
        "train_examples": len(train_rows),
        "test_examples": len(test_rows),
        "train_seconds": seconds,
        "no_fallback": {"in_scope": none.in_scope_accuracy, "oos_recall": none.oos_caught},
        "tuned": {
            "threshold": chosen.threshold,
            "ambiguity": ambiguity,
            "val_handled": chosen.handled,
            "in_scope": tuned.in_scope_accuracy,
            "oos_recall": tuned.oos_caught,
        },
        "desk_fallback": {
            "threshold": config["_desk_threshold"],
            "ambiguity": config["_desk_ambiguity"],
            "in_scope": desk.in_scope_accuracy,
            "oos_recall": desk.oos_caught,
        },
        "p50_ms": percentile(millis, 50),
        "p99_ms": percentile(millis, 99),
    }


def render(
    results: dict[str, Any], args: argparse.Namespace, config: dict[str, Any], started: str
) -> str:
    """The Markdown section for BENCHMARKS.md."""
    classifier = next(c for c in config["pipeline"] if c["name"] in CLASSIFIERS)
    settings = ", ".join(f"{k} {v}" for k, v in classifier.items() if k != "name")
    components = ", ".join(c["name"].rsplit(".", 1)[-1] for c in config["pipeline"])
    lines = [
        f"Measured {started} on {machine()}. Command: `make bench-nlu` "
        f"(`scripts/bench_nlu.py{f' --only {args.only}' if args.only else ''}"
        f"{f' --epochs {args.epochs}' if args.epochs else ''}"
        f"{''.join(' --set ' + o for o in args.set)}`). Pipeline: the components of "
        f"`config.yml` in order ({components}), minus the FAQ answer selector (no retrieval "
        f"intents here). {classifier['name']}: {settings or 'defaults'}"
        f"{' (differs from config.yml: ' + config['_changed'] + ')' if config['_changed'] else ' (as in config.yml)'}. "
        f"Parse latency: in-process `Agent.parse_message` over every test message, one at a time "
        f"(no HTTP), on the same shared cores.",
        "",
    ]
    rows = []
    b = results.get("banking77")
    if b:
        rows.append(
            [
                "BANKING77 (77 intents)",
                f"{b['train_examples']} -> {b['test_examples']}",
                f"**{pct(b['accuracy'], 2)}**",
                "–",
                f"{b['train_seconds']:.0f} s",
                f"{b['p50_ms']:.0f} / {b['p99_ms']:.0f}",
                "BERT-Large fine-tuned 93.66 %; USE+ConveRT 93.36 %",
            ]
        )
    c = results.get("clinc150")
    if c:
        t = c["tuned"]
        rows.append(
            [
                "CLINC150 Full, oos as an intent, no fallback",
                f"{c['train_examples']} -> {c['test_examples']}",
                pct(c["no_fallback"]["in_scope"]),
                pct(c["no_fallback"]["oos_recall"]),
                f"{c['train_seconds']:.0f} s",
                f"{c['p50_ms']:.0f} / {c['p99_ms']:.0f}",
                "oos-train: BERT 96.9 / 40.3; MLP-USE 93.5 / 47.4; Rasa 2019 (spacy-sklearn) 91.5 / 45.3",
            ]
        )
        rows.append(
            [
                f"CLINC150, same model, fallback threshold {t['threshold']} / ambiguity {t['ambiguity']} chosen on val",
                "",
                f"**{pct(t['in_scope'])}**",
                f"**{pct(t['oos_recall'])}**",
                "",
                "",
                "oos-threshold: BERT 96.2 / 52.3; Rasa 2019 90.9 / 31.2",
            ]
        )
        d = c["desk_fallback"]
        rows.append(
            [
                f"CLINC150, same model, the desk's fallback ({d['threshold']} / {d['ambiguity']})",
                "",
                pct(d["in_scope"]),
                pct(d["oos_recall"]),
                "",
                "",
                "",
            ]
        )
    lines.append(
        table(
            [
                "benchmark",
                "train -> test",
                "accuracy (in-scope)",
                "oos recall",
                "training",
                "parse p50 / p99 ms",
                "published",
            ],
            rows,
            align="llrrrrl",
        )
    )
    if c:
        lines += [
            "",
            f"CLINC150's threshold pair maximises the share of val + oos_val (3,100 queries) handled "
            f"right ({pct(c['tuned']['val_handled'])} on val): an in-scope query counts when its intent is right "
            f"and it does not fall back, an oos query when it is predicted `oos` or falls back. "
            f"Test queries were not used to choose it.",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", type=Path, default=ROOT / "config.yml")
    parser.add_argument("--epochs", type=int, help="DIET's epochs (default: as in config.yml)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a setting of the intent classifier, e.g. number_of_transformer_layers=0",
    )
    parser.add_argument("--only", choices=["banking77", "clinc150"])
    parser.add_argument("--benchmarks", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--no-write", action="store_true", help="print, leave BENCHMARKS.md alone")
    args = parser.parse_args(argv)
    # config.yml names the jieba dictionary relative to the project.
    os.chdir(ROOT)
    started = stamp()
    overrides = {k: yaml.safe_load(v) for k, _, v in (o.partition("=") for o in args.set)}
    config = bench_config(args.config, args.epochs, overrides)
    source = yaml.safe_load(args.config.read_text(encoding="utf-8"))
    fallback = next((c for c in source["pipeline"] if c["name"] == "FallbackClassifier"), {})
    results: dict[str, Any] = {}
    run_config = dict(config)
    meta = {
        "_changed": ", ".join(
            [f"epochs {args.epochs}"] * (args.epochs is not None)
            + [f"{k} {v}" for k, v in overrides.items()]
        ),
        "_desk_threshold": float(fallback.get("threshold", 0.3)),
        "_desk_ambiguity": float(fallback.get("ambiguity_threshold", 0.1)),
    }
    WORK.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if args.only in (None, "banking77"):
        banking77(run_config, results)
    if args.only in (None, "clinc150"):
        clinc150({**run_config, **meta}, results)
    (WORK / "results.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    body = render(results, args, {**config, **meta}, started)
    body += f"\n\nWhole run: {time.perf_counter() - t0:.0f} s."
    print(body)
    if not args.no_write:
        write_section(args.benchmarks, "bench_nlu", body)
        print(f"[bench] wrote {args.benchmarks}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
