"""The report's PNG figures (matplotlib, Agg backend: no display needed) and its one HTML page.

Figures are built as ``matplotlib.figure.Figure`` objects, not through pyplot: no global figure registry, no
GUI backend, nothing to close.

Both read only the JSON-ready report dict that ``report.compute_report`` builds, so every plotted number is
also in ``report.json``.
"""

from __future__ import annotations

import html
import logging
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from vpa_stream.sinks.report_text import pct as _pct

log = logging.getLogger(__name__)

SIGNALS = ("BUY", "SELL", "HOLD")
STRENGTHS = ("STRONG", "MODERATE", "WEAK")
COLOURS = {
    "BUY": ("#1b7837", "#5aae61", "#a6dba0"),
    "SELL": ("#b2182b", "#ef8a62", "#fddbc7"),
    "HOLD": ("#404040", "#878787", "#d0d0d0"),
}
DPI = 100


def _colour(kind: str, strength: str) -> str:
    return COLOURS[kind][STRENGTHS.index(strength)]


def _save(fig: Figure, out_dir: Path, name: str) -> str:
    FigureCanvasAgg(fig)  # the Agg canvas renders the PNG, whatever pyplot's backend is
    fig.tight_layout()
    fig.savefig(out_dir / name, dpi=DPI)
    return name


def _stacked_shares(tables: dict[str, dict[str, dict[str, int]]], title: str, xlabel: str) -> Figure:
    keys = list(tables)
    xs = list(range(len(keys)))  # positions, not category strings: years must not become a numeric axis
    fig = Figure(figsize=(max(6.0, 0.45 * len(keys) + 4), 4.5))
    ax = fig.subplots()
    totals = [sum(sum(row.values()) for row in tables[k].values()) or 1 for k in keys]
    bottom = [0.0] * len(keys)
    for kind in SIGNALS:
        for strength in STRENGTHS:
            shares = [tables[k].get(kind, {}).get(strength, 0) / t for k, t in zip(keys, totals, strict=True)]
            ax.bar(xs, shares, bottom=bottom, color=_colour(kind, strength), label=f"{kind} {strength}")
            bottom = [b + s for b, s in zip(bottom, shares, strict=True)]
    ax.set_xticks(xs, keys, rotation=45 if len(keys) > 6 else 0)
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of examples")
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def _labels_overall(overall: dict[str, dict[str, int]]) -> Figure:
    fig = Figure(figsize=(6.5, 4))
    ax = fig.subplots()
    width = 0.26
    for j, strength in enumerate(STRENGTHS):
        xs = [i + (j - 1) * width for i in range(len(SIGNALS))]
        counts = [overall.get(k, {}).get(strength, 0) for k in SIGNALS]
        bars = ax.bar(xs, counts, width, color=[_colour(k, strength) for k in SIGNALS], edgecolor="black",
                      linewidth=0.4)
        ax.bar_label(bars, fontsize=7)
    ax.set_xticks(range(len(SIGNALS)), [f"{k}\n(S / M / W)" for k in SIGNALS])
    ax.set_ylabel("examples")
    ax.set_title("Labels: signal x strength")
    return fig


def _duplicates(dup: dict[str, Any]) -> Figure:
    labels = list(dup["per_label"])
    fig = Figure(figsize=(8, 4))
    ax = fig.subplots()
    xs = range(len(labels))
    exact = [dup["per_label"][k]["exact_duplicate_rate"] for k in labels]
    near = [dup["per_label"][k]["near_duplicate_rate"] for k in labels]
    ax.bar([x - 0.2 for x in xs], exact, 0.4, label="exact (normalised text)", color="#2166ac")
    ax.bar([x + 0.2 for x in xs], near, 0.4, label=f"near (MinHash Jaccard >= {dup['near_threshold']})",
           color="#92c5de")
    ax.set_xticks(list(xs), [k.replace(" ", "\n") for k in labels], fontsize=8)
    ax.set_ylabel("share of the label's examples")
    ax.set_title("Duplicate explanations per label")
    ax.legend(fontsize=8)
    return fig


def _phrasings(div: dict[str, Any]) -> Figure:
    top = div["top_phrasings"][::-1]
    fig = Figure(figsize=(10, 0.45 * max(len(top), 1) + 1.5))
    ax = fig.subplots()
    names = [t["skeleton"] if len(t["skeleton"]) <= 70 else t["skeleton"][:67] + "..." for t in top]
    ax.barh(range(len(top)), [t["share"] for t in top], color="#762a83")
    ax.set_yticks(range(len(top)), names, fontsize=7)
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of examples using the phrasing (numbers, timeframes and CLASS names masked)")
    ax.set_title("Most used phrasings")
    return fig


def _hit_rates(signals: dict[str, Any]) -> Figure:
    horizons = signals["horizons"]
    fig = Figure(figsize=(3.4 * len(horizons), 4))
    axes = fig.subplots(1, len(horizons), sharey=True, squeeze=False)
    for ax, h in zip(axes[0], horizons, strict=True):
        groups = signals["groups"][str(h)]
        base = signals["base"][str(h)]
        x = 0.0
        for kind in ("BUY", "SELL"):
            start = x
            for strength in STRENGTHS:
                g = groups[kind][strength]
                if g["hit_rate"] is not None:
                    low, high = g["ci"]
                    ax.bar(x, g["hit_rate"], 0.8, color=_colour(kind, strength), edgecolor="black", linewidth=0.4)
                    ax.errorbar(x, g["hit_rate"], yerr=[[g["hit_rate"] - low], [high - g["hit_rate"]]],
                                color="black", capsize=3, linewidth=1)
                x += 1
            if base[kind]["hit_rate"] is not None:
                ax.hlines(base[kind]["hit_rate"], start - 0.45, x - 0.55, colors="black", linestyles="dashed",
                          linewidth=1)
            x += 0.6
        ax.set_xticks([0, 1, 2, 3.6, 4.6, 5.6], ["B-S", "B-M", "B-W", "S-S", "S-M", "S-W"], fontsize=8)
        ax.set_ylim(0, 1)
        ax.set_title(f"{h} bar{'s' if h > 1 else ''}")
    axes[0][0].set_ylabel("hit rate (95% CI); dashed: base rate")
    fig.suptitle("Forward-return hit rate by signal and strength (entry: next open)")
    return fig


def render_figures(report: dict[str, Any], out_dir: Path) -> list[str]:
    """Write every PNG into ``out_dir``; their file names, in page order."""
    labels = report["labels"]
    names = [
        _save(_labels_overall(labels["overall"]), out_dir, "labels.png"),
        _save(_stacked_shares(labels["by_symbol"], "Labels per symbol", "symbol"), out_dir, "labels_by_symbol.png"),
        _save(_stacked_shares(labels["by_year"], "Labels per year", "year"), out_dir, "labels_by_year.png"),
        _save(_duplicates(report["duplicates"]), out_dir, "duplicates.png"),
        _save(_phrasings(report["diversity"]), out_dir, "phrasings.png"),
        _save(_hit_rates(report["signals"]), out_dir, "hit_rates.png"),
    ]
    log.info("wrote %d figures", len(names), extra={"out_dir": str(out_dir)})
    return names


# -- the page --------------------------------------------------------------------------------------------------

def _e(value: Any) -> str:
    return html.escape(str(value))


def _img(name: str, alt: str) -> str:
    return f'<p><img src="{_e(name)}" alt="{_e(alt)}"></p>'


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _labels_section(labels: dict[str, Any]) -> str:
    rows = [[k, *(labels["overall"][k][s] for s in STRENGTHS), sum(labels["overall"][k].values()),
             _pct(sum(labels["shares"][k].values()))] for k in SIGNALS]
    return ("<h2>Label distribution</h2>"
            + _table(["signal", *STRENGTHS, "total", "share"], rows)
            + _img("labels.png", "labels") + _img("labels_by_symbol.png", "labels per symbol")
            + _img("labels_by_year.png", "labels per year"))


def _faithfulness_section(f: dict[str, Any]) -> str:
    out = ["<h2>Faithfulness</h2>",
           f"<p>{f['n']:,} explanations checked against their input (numbers at the printed precision, CLASS and "
           f"pattern names, the header, empty sections, direction words): <b>{f['failing']:,} failing</b> "
           f"({_pct(f['failing_rate'], 2)}).</p>",
           _table(["kind", "failing examples"], [[k, v] for k, v in f["by_kind"].items()])]
    if f["failing"]:
        shown = list(f["problems"].items())
        out.append(f"<p>Failing ids (first {len(shown)}; all in report.json):</p><ul>")
        out += [f"<li><code>{_e(i)}</code>: {_e('; '.join(p))}</li>" for i, p in shown]
        out.append("</ul>")
    return "".join(out)


def _duplicates_section(d: dict[str, Any], div: dict[str, Any]) -> str:
    rows = [[k, v["n"], _pct(v["exact_duplicate_rate"], 2), _pct(v["near_duplicate_rate"], 2)]
            for k, v in d["per_label"].items()]
    rows.append(["all", d["n"], _pct(d["exact_duplicate_rate"], 2), _pct(d["near_duplicate_rate"], 2)])
    top = [[_pct(t["share"]), t["skeleton"]] for t in div["top_phrasings"]]
    return ("<h2>Duplicates</h2>"
            f"<p>Exact: the same normalised explanation as an earlier example. Near: another example of the same "
            f"label with estimated Jaccard similarity &ge; {d['near_threshold']} of word {d['shingle_words']}-grams "
            f"(MinHash, {d['num_perm']} permutations, {d['bands']} LSH bands, candidates verified).</p>"
            + _table(["label", "examples", "exact", "near"], rows) + _img("duplicates.png", "duplicates")
            + "<h2>Template diversity</h2>"
            + _table(["measure", "value"], [
                ["distinct-1 (raw words)", f"{div['distinct_1']:.4f}"],
                ["distinct-2 (raw words)", f"{div['distinct_2']:.4f}"],
                ["distinct-1 (numbers and classes masked)", f"{div['distinct_1_masked']:.5f}"],
                ["distinct-2 (numbers and classes masked)", f"{div['distinct_2_masked']:.5f}"],
                ["sentence skeletons", div["skeletons"]],
                ["largest share of one phrasing", _pct(div["largest_phrasing_share"])],
                ["largest share of one whole-explanation template", _pct(div["largest_whole_template_share"], 2)],
            ])
            + "<p>Most used sentence skeletons (share of examples; the fixed <code>Signal:</code> header is left "
              "out):</p>" + _table(["share", "skeleton"], top) + _img("phrasings.png", "phrasings"))


def _signals_section(s: dict[str, Any]) -> str:
    rows = []
    for h in s["horizons"]:
        for kind in ("BUY", "SELL"):
            base = s["base"][str(h)][kind]
            for strength in STRENGTHS:
                g = s["groups"][str(h)][kind][strength]
                ci = "n/a" if g["ci"] is None else f"{_pct(g['ci'][0])} to {_pct(g['ci'][1])}"
                rows.append([h, kind, strength, g["n"], _pct(g["hit_rate"]), ci, _pct(base["hit_rate"]),
                             _pct(g["mean_return"], 2), "yes" if g["beats_base"] else "no"])
    order = [[h, kind, {True: "holds", False: "does not hold", None: "n/a"}[s["ordering"][str(h)][kind]]]
             for h in s["horizons"] for kind in ("BUY", "SELL")]
    b = s["bootstrap"]
    return ("<h2>Signal evaluation</h2>"
            f"<p>Forward returns from the {_e(s['entry'])} to the {_e(s['exit'])}, split-adjusted, prices as "
            f"traded (no dividends), computed for this report only and never written into examples. "
            f"{s['with_prices']:,} of {s['examples']:,} examples have prices; {s['price_mismatches']:,} closes "
            f"differ from the price source. A BUY hits on a return &gt; 0, a SELL on &lt; 0; the base rate is the "
            f"same event over every example. {int(b['confidence'] * 100)}% intervals: bootstrap over "
            f"({_e(b['cluster'])}) clusters, {b['resamples']} resamples, seed {b['seed']}.</p>"
            + _img("hit_rates.png", "hit rates")
            + _table(["horizon", "signal", "strength", "n", "hit rate", "95% CI", "base rate", "mean return",
                      "CI above base"], rows)
            + "<p>Does STRONG &gt; MODERATE &gt; WEAK hold?</p>" + _table(["horizon", "signal", "ordering"], order))


def _tokens_section(t: dict[str, Any] | None) -> str:
    if not t:
        return ""
    rows = [[f"<code>{_e(name)}</code>", f"{v['p50']:,}", f"{v['p95']:,}", f"{v['p99']:,}", f"{v['max']:,}"]
            for name, v in t["formats"].items()]
    return ("<h2>Token lengths</h2>"
            f"<p>Tokens of each export format's row with the full text prompt, counted with {_e(t['tokenizer'])} "
            "(every turn's text plus 5 tokens a turn and 3 for the reply). <code>vpa-stream export --max-tokens N"
            "</code> shortens the prompts until every row fits.</p>"
            + _table(["format", "p50", "p95", "p99", "max"], rows))


def render_page(report: dict[str, Any]) -> str:
    """The report as one self-contained HTML page referring to the PNGs next to it."""
    title = f"vpa-stream dataset report: {report['examples']:,} examples"
    head = (f"<p>Input <code>{_e(report.get('input', ''))}</code>; symbols {_e(', '.join(report['symbols']))}; "
            f"timeframes {_e(', '.join(report['timeframes']))}; {_e(report['first'])} to {_e(report['last'])}; "
            f"config {_e(', '.join(report['config_hashes']))}; engine {_e(', '.join(report['engine_versions']))}; "
            f"prices <code>{_e(report.get('price_source', ''))}</code>. Every number is also in "
            f'<a href="report.json">report.json</a>.</p>')
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
             "table{border-collapse:collapse;margin:0.5em 0}td,th{border:1px solid #ccc;padding:2px 8px;"
             "font-size:13px;text-align:left}img{max-width:100%}code{font-size:12px}")
    body = (head + _labels_section(report["labels"]) + _faithfulness_section(report["faithfulness"])
            + _duplicates_section(report["duplicates"], report["diversity"]) + _tokens_section(report.get("tokens"))
            + _signals_section(report["signals"]))
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
            f"<style>{style}</style></head><body><h1>{_e(title)}</h1>{body}</body></html>\n")
