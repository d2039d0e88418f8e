"""Few-shot report: a markdown table in the shape of IMG2IMU's Table II, JSON and PNG plots."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def fmt(values: list[float]) -> str:
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.3f} (1 seed)"
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}"


def markdown_table(results: dict) -> str:
    shots = results["shots"]
    head = "| Method | Pretraining | " + " | ".join(f"{n}-shot" for n in shots) + " | All labels |"
    sep = "|" + "---|" * (len(shots) + 3)
    rows = [head, sep]
    for name, m in results["methods"].items():
        cells = [fmt(m["shots"].get(str(n), [])) for n in shots]
        rows.append(f"| {name} | {m['pretraining']} | " + " | ".join(cells) + f" | {fmt(m.get('full', []))} |")
    return "\n".join(rows)


def write_report(results: dict, out: Path) -> Path:
    """Write report.md, results.json, fewshot.png and confusion.png into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2))
    plot_fewshot(results, out / "fewshot.png")
    best = results.get("best")
    if best:
        plot_confusion(np.array(best["confusion"]), results["class_names"], best["title"], out / "confusion.png")
    lines = [
        f"# imuedge few-shot report: {results['dataset']}",
        "",
        f"Macro-F1 on the subject-disjoint test split (subjects {results['split']['test']}), "
        f"mean ± std over {len(results['seeds'])} seeds. "
        f"Windows: {results['window']['window']} samples at {results['window']['sample_rate_hz']:g} Hz, "
        f"hop {results['window']['hop']}, channels {' '.join(results['window']['channels'])}. "
        f"Train/val/test windows: {results['sizes']['train']}/{results['sizes']['val']}/{results['sizes']['test']}.",
        "",
        markdown_table(results),
        "",
    ]
    lines += [f"- {line}" for line in results.get("findings", [])]
    lines += ["", "![macro-F1 vs labelled windows per class](fewshot.png)", ""]
    if best:
        lines += [f"![confusion matrix]({'confusion.png'})", ""]
    lines += ["## How this was made", "", f"- Command: `{results['command']}`",
              f"- Machine: {results['machine']}", f"- Wall time: {results['wall_time_s']:.0f} s"
              + (" (" + ", ".join(f"{k} {v:.0f} s" for k, v in results["stages_s"].items()) + ")"
                 if results.get("stages_s") else ""),
              f"- Code version: {results['code_version']}", ""]
    for name, m in results["methods"].items():
        if m.get("note"):
            lines.append(f"- **{name}**: {m['note']}")
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def plot_fewshot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    shots = results["shots"]
    for name, m in results["methods"].items():
        xs = [n for n in shots if m["shots"].get(str(n))]
        if not xs:
            continue
        mean = [np.mean(m["shots"][str(n)]) for n in xs]
        std = [np.std(m["shots"][str(n)]) for n in xs]
        ax.errorbar(xs, mean, yerr=std, marker="o", capsize=3, label=name)
    ax.set_xscale("log")
    ax.set_xticks(shots, [str(n) for n in shots])
    ax.set_xlabel("labelled windows per class")
    ax.set_ylabel("macro-F1 (test subjects)")
    ax.set_title(f"Few-shot activity recognition, {results['dataset']}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_confusion(cm: np.ndarray, names: list[str], title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=8,
                    color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
