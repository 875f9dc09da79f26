"""CI check of the judge validation figures: `harness judge-check heuristic:lexical` on 30 real
GuardReasoner-1B traces agrees with the full-set catch rates recorded in benchmarks/RESULTS.md (issue 12)."""

import json
import os
import re
from pathlib import Path

import pytest
from scipy.stats import binomtest

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("HARNESS_DATA_DIR", REPO.parent / "shared" / "data"))
PREDICTIONS = DATA / "guardreasoner" / "predictions" / "1B" / "AegisSafetyTest" / "generated_predictions.jsonl"
HEADING = "**GuardReasoner-1B, AegisSafetyTest"
COLUMNS = {"composite (default)": "composite", "coherence": "coherence", "relevance": "relevance",
           "specificity": "specificity", "consistency": "consistency"}


def recorded_rates() -> dict:
    """{degradation: {criterion: full-set catch rate}} from the AegisSafetyTest table of RESULTS.md."""
    lines = (REPO / "benchmarks" / "RESULTS.md").read_text(encoding="utf-8").splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith(HEADING))
    header = next(n for n in range(start, len(lines)) if lines[n].startswith("| degradation"))
    names = [c.strip() for c in lines[header].strip("|").split("|")]
    out = {}
    for line in lines[header + 2:]:
        if not line.startswith("|"):
            break
        cells = dict(zip(names, (c.strip() for c in line.strip("|").split("|"))))
        out[cells["degradation"]] = {ours: float(re.match(r"[\d.]+", cells[col]).group())
                                     for col, ours in COLUMNS.items()}
    return out


@pytest.mark.skipif(not PREDICTIONS.exists(), reason="shared GuardReasoner predictions not available")
def test_catch_rates_on_a_sample_agree_with_the_recorded_full_set(cli, isolated_home):
    recorded = recorded_rates()
    assert len(recorded) == 10  # every degradation of the table was read
    code, out, err = cli("judge-check", "heuristic:lexical", "--on", "gr_aegis_safety_test", "--n", "30",
                         "--model", f"replay:{PREDICTIONS}", "--json", "--quiet")
    assert code == 0, err
    report = json.loads(out)
    assert report["n_samples"] == 30
    by_name = {r["name"]: r for r in report["results"]}
    assert set(by_name) == set(recorded)
    misses = []
    for name, figures in recorded.items():
        for criterion, full in figures.items():
            got = by_name[name]["rates"][criterion]
            # the sample's count must be plausible under the recorded full-set rate: exact binomial test at
            # 0.05 / 50 comparisons (Bonferroni), the rate anywhere within the table's 2-decimal rounding
            rates = [min(max(full + d, 0.0), 1.0) for d in (-0.005, 0.0, 0.005)]
            pvalue = max(binomtest(got["caught"], got["n"], r).pvalue for r in rates)
            if pvalue < 0.05 / 50:
                misses.append(f"{name}.{criterion}: sample {got['caught']}/{got['n']}, recorded {full}")
    assert not misses, misses
