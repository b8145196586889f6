"""The critic modes at a glance: one table per study JSON, for docs/results/critic.md.

    python benchmarks/critic_summary.py [--vectors benchmarks/reproduce_modes.json ...]
                                        [--audio benchmarks/critic_study.json]

Vector studies (`benchmarks/reproduce.py --modes ...`): per Table 2 model and critic mode, how
many of the four threshold-free measures (EER, AUC, mAP, ranking loss) the mode makes better /
worse / not resolved against the plain model (paired 95% t interval over seeds, the study's own
`compare`), the mean difference in mAP, and the critic's hardness AUC. Audio
(`benchmarks/real_audio_study.py`): per loss and arm, each system over seeds, its paired
difference from plain and its hardness AUC.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

if not __package__:  # `python benchmarks/critic_summary.py`: siblings as `benchmarks.*`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from admlc_tf.cli import run_cli  # noqa: E402
from benchmarks.common import HERE  # noqa: E402
from benchmarks.reproduce import compare, mean_std  # noqa: E402

MEASURES = ("mean_eer", "mean_auc", "map", "ranking_loss")


def vector_table(path: Path) -> str:
    report = json.loads(path.read_text())
    lines = []
    for section, by_model in report["summaries"].items():
        if section not in ("scene", "realvec"):
            continue
        modes = list(dict.fromkeys(m for by_mode in by_model.values() for m in by_mode))
        lines += [f"**{section}** ({len(report['seeds'])} seeds; each cell: measures better / "
                  "worse / not resolved of EER, AUC, mAP, RL; Δ mAP; hardness AUC)", "",
                  "| model | " + " | ".join(modes) + " |", "|---|" + "---|" * len(modes)]
        for model, by_mode in by_model.items():
            cells = []
            for mode in modes:
                if mode not in by_mode:
                    cells.append("–")
                    continue
                against = by_mode[mode]["against_plain"]
                verdicts = [against[m]["verdict"] for m in MEASURES]
                better, worse = verdicts.count("AD better"), verdicts.count("AD worse")
                hardness = (by_mode[mode].get("hardness_auc") or {}).get("mean")
                cells.append(f"{better}/{worse}/{4 - better - worse}, "
                             f"{against['map']['difference']['mean']:+.3f}"
                             + (f", {hardness:.2f}" if hardness is not None else ""))
            lines.append(f"| {model} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


LOWER_IS_BETTER = ("mean_eer", "ranking_loss")


def audio_table(path: Path) -> str:
    """The real-recording study (`benchmarks/real_audio_study.py`'s JSON): per loss and arm, each
    system's measures over seeds, its paired difference from the plain system of the same loss
    and arm (the study's own `differences`) and the critic's hardness AUC."""
    part = json.loads(path.read_text())["audio"]
    summary, runs = part["summary"], part["runs"]
    against_plain = {d["ad"]: d["measures"] for d in part["differences"].values()
                     if d["against"] == "plain, same arm"}
    lines = []
    for name, info in part["systems"].items():
        if name not in summary or info["system"] != "plain":
            continue
        group = [n for n, i in part["systems"].items() if n in summary
                 and (i["loss"], i["arm"]) == (info["loss"], info["arm"])]
        lines += [f"{info['loss'].upper()}, {info['arm']}:", "",
                  "| system | seeds | mean EER ↓ | AUC ↑ | mAP ↑ | Δ EER vs plain [95% CI] | "
                  "Δ AUC vs plain [95% CI] | hardness AUC |", "|---|" + "---|" * 7]
        for system in group:
            stats = summary[system]
            differences = [_difference(against_plain.get(system), m)
                           for m in ("mean_eer", "mean_auc")]
            cue = [r["hardness_auc"] for r in runs[system] if r.get("hardness_auc") is not None]
            lines.append(f"| {part['systems'][system]['system']} | {stats['mean_eer']['n']} | "
                         f"{_cell(stats['mean_eer'])} | {_cell(stats['mean_auc'])} | "
                         f"{_cell(stats['map'])} | {' | '.join(differences)} | "
                         f"{_cell(mean_std(cue), 2) if cue else '–'} |")
        lines.append("")
    return "\n".join(lines + best_plain_table(part))


def best_plain_table(part: dict) -> list[str]:
    """Every AD system against the best plain system of any loss and arm (lowest mean EER):
    the study pairs each AD system with the plain runs of its own loss only, but a user picks
    the loss too, so the critic has to beat the best plain model there is."""
    summary, runs, systems = part["summary"], part["runs"], part["systems"]
    plains = [n for n in summary if systems[n]["system"] == "plain"]
    best = min(plains, key=lambda n: summary[n]["mean_eer"]["mean"])
    lines = [f"Every AD system against the best plain system of any loss ({best}), paired by "
             "seed:", "", "| AD system | seeds | Δ EER [95% CI] | Δ AUC [95% CI] | "
             "Δ mAP [95% CI] |", "|---|---|---|---|---|"]
    for name in summary:
        if systems[name]["system"] == "plain" or len(runs[name]) < 2:
            continue
        measures = compare(runs[best], runs[name])
        seeds = len(measures["mean_eer"]["difference"]["seeds"])
        lines.append(f"| {name} | {seeds} | " + " | ".join(
            _difference(measures, m) for m in ("mean_eer", "mean_auc", "map")) + " |")
    return lines + [""]


def _difference(measures: dict | None, measure: str) -> str:
    """`+0.011 [-0.005, +0.026]`, in bold with ✓ / ✗ when the interval excludes 0."""
    if measures is None:
        return "–"
    d = measures[measure]["difference"]
    if d.get("low") is None:
        return f"{d['mean']:+.3f}"
    text = f"{d['mean']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}]"
    lower = measure in LOWER_IS_BETTER
    if (d["high"] < 0) if lower else (d["low"] > 0):
        return f"**{text}** ✓"
    if (d["low"] > 0) if lower else (d["high"] < 0):
        return f"**{text}** ✗"
    return text


def _cell(stat: dict, digits: int = 3) -> str:
    if stat.get("n", 2) > 1 and stat["std"]:
        return f"{stat['mean']:.{digits}f} ± {stat['std']:.{digits}f}"
    return f"{stat['mean']:.{digits}f}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vectors", nargs="*", default=[
        str(HERE / "reproduce_modes.json"), str(HERE / "reproduce_modes_realvec.json")])
    parser.add_argument("--audio", nargs="*", default=[str(HERE / "critic_study.json")])
    args = parser.parse_args(argv)
    for path in map(Path, args.vectors + args.audio):
        if not path.is_file():
            print(f"{path} does not exist: run the study that writes it (see its docstring)",
                  file=sys.stderr)
            return 2
    for path in args.vectors:
        print(vector_table(Path(path)))
    for path in args.audio:
        print(audio_table(Path(path)))
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
