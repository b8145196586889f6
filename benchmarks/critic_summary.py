"""The critic modes at a glance: one table per study JSON, for docs/results/critic.md.

    python benchmarks/critic_summary.py [--vectors benchmarks/reproduce_modes.json ...]
                                        [--audio benchmarks/critic_screen_audio.json]

Vector studies (`benchmarks/reproduce.py --modes ...`): per Table 2 model and critic mode, how
many of the four threshold-free measures (EER, AUC, mAP, ranking loss) the mode makes better /
worse / not resolved against the plain model (paired 95% t interval over seeds, the study's own
`compare`), the mean difference in mAP, and the critic's hardness AUC. Audio: the mean EER of
each system over seeds and its paired difference from the plain runs of the same seeds.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

if not __package__:  # `python benchmarks/critic_summary.py`: siblings as `benchmarks.*`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

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


def audio_table(path: Path) -> str:
    lines = []
    for arm, runs in json.loads(path.read_text())["arms"].items():
        plain = {r["seed"]: r for r in runs["plain"]}
        lines += [f"{arm}:", "", "| system | seeds | mean EER ↓ | AUC ↑ | mAP ↑ | "
                  "Δ EER vs plain [95% CI] | hardness AUC |", "|---|---|---|---|---|---|---|"]
        for name, system in runs.items():
            seeds = [r["seed"] for r in system]
            stats = {m: mean_std([r["measures"][m] for r in system]) for m in MEASURES}
            difference = "–"
            if name != "plain" and len(seeds) > 1:
                d = compare([plain[s] for s in seeds], system)["mean_eer"]["difference"]
                difference = f"{d['mean']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}]"
            cue = [r["hardness_auc"] for r in system if r.get("hardness_auc") is not None]
            lines.append(f"| {name} | {len(seeds)} | {_cell(stats['mean_eer'])} | "
                         f"{_cell(stats['mean_auc'])} | {_cell(stats['map'])} | {difference} | "
                         f"{_cell(mean_std(cue)) if cue else '–'} |")
        lines.append("")
    return "\n".join(lines)


def _cell(stat: dict) -> str:
    return f"{stat['mean']:.3f} ± {stat['std']:.3f}" if stat["std"] else f"{stat['mean']:.3f}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vectors", nargs="*", default=[
        str(HERE / "reproduce_modes.json"), str(HERE / "reproduce_modes_realvec.json")])
    parser.add_argument("--audio", nargs="*", default=[str(HERE / "critic_screen_audio.json")])
    args = parser.parse_args(argv)
    for path in map(Path, args.vectors + args.audio):
        if not path.is_file():
            print(f"{path} does not exist: run the study that writes it (see its docstring)",
                  file=sys.stderr)
            return 2
    for path in args.vectors:
        print(vector_table(Path(path)))
    for path in args.audio:
        print(f"**{Path(path).name}**\n\n{audio_table(Path(path))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
