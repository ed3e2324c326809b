"""Trends, fleet merge and the CI summary from report directories (jetson_hil.report.history, trend, merge, github,
commands), on summary.json files written by real suite runs against simulators (selftests/data/report_runs/README.md
says how they were made). Pure logic: no simulator, no network."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from jetson_hil import cli, fleet
from jetson_hil.report import github, history, merge, trend

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "selftests" / "data" / "report_runs"
HEALTHY, FAULTY = "h3-a", "h3-b"


def _doc(run: str) -> dict:
    return json.loads((DATA / run / "summary.json").read_text())


def _runs_of(device: str) -> list[str]:
    """The data's run ids of `device`, oldest first (by their own start times)."""
    docs = [_doc(p.parent.name) for p in DATA.glob("*/summary.json")]
    return [d["run"]["id"] for d in sorted(docs, key=lambda d: d["run"]["started"]) if d["run"]["device"] == device]


def _passed(device: str) -> str:
    """The newest of the device's runs that passed (the others ended early on a loaded machine)."""
    return [r for r in _runs_of(device) if _doc(r)["run"]["verdict"] == "passed"][-1]


def _value(run: str, name: str):
    return next(m["value"] for m in _doc(run)["measurements"] if m["name"] == name)


@pytest.fixture
def reports(tmp_path) -> Path:
    """A reports root holding the data's runs, `latest` linked to the newest as a run leaves it."""
    root = tmp_path / "reports"
    shutil.copytree(DATA, root, ignore=shutil.ignore_patterns("README.md"))
    (root / "latest").symlink_to(_runs_of(HEALTHY)[-1])
    return root


def test_figures_are_the_measurements_and_the_latency():
    doc = _doc(_passed(HEALTHY))
    figs = history.figures(doc)
    rate = next(m for m in doc["measurements"] if m["name"] == "embeddings.rate_hz")
    assert figs["embeddings.rate_hz"] == {
        "value": rate["value"], "unit": "Hz", "low": rate["low"], "high": None, "outcome": rate["outcome"]
    }  # fmt: skip
    assert figs["embeddings.latency_p95_ms"]["value"] == doc["latency_ms"]["p95"]
    numeric = {m["name"] for m in doc["measurements"] if isinstance(m["value"], (int, float))}
    assert numeric <= set(figs)


def test_runs_are_one_device_oldest_first_and_bounded(reports):
    kept = history.runs(reports, HEALTHY)
    assert [r.id for r in kept] == _runs_of(HEALTHY) and len(kept) >= 3
    assert all(r.path.parent.name != "latest" for r in kept)  # the link is not a second run
    assert FAULTY not in {history.device_of(_doc(r.id)) for r in kept}
    assert [r.id for r in history.runs(reports, HEALTHY, limit=2)] == _runs_of(HEALTHY)[-2:]
    assert [r.id for r in history.runs(reports, FAULTY)] == _runs_of(FAULTY)
    assert history.devices(reports) == sorted({HEALTHY, FAULTY})


def test_a_broken_summary_is_skipped(reports):
    (reports / "broken").mkdir()
    (reports / "broken" / "summary.json").write_text("{not json")
    assert [r.id for r in history.runs(reports, HEALTHY)] == _runs_of(HEALTHY)


def test_compare_gives_the_previous_run_and_the_oldest_as_baseline(reports):
    ids = _runs_of(HEALTHY)
    current = _doc(ids[-1])
    rows = history.compare(current, history.runs(reports, HEALTHY))
    name = "perf.embeddings_hz"
    now, before = _value(ids[-1], name), _value(ids[-2], name)
    oldest_id = next(i for i in ids if any(m["name"] == name for m in _doc(i)["measurements"]))
    oldest = _value(oldest_id, name)
    assert rows[name]["previous"]["value"] == before and rows[name]["previous"]["run"] == ids[-2]
    assert rows[name]["previous"]["delta"] == pytest.approx(now - before)
    assert rows[name]["previous"]["percent"] == pytest.approx((now - before) / before * 100, abs=0.05)
    assert rows[name]["baseline"]["value"] == oldest and rows[name]["baseline"]["source"] == f"run {oldest_id}"


def test_a_profile_baseline_wins_over_the_oldest_run(reports, tmp_path):
    folder = tmp_path / "baselines"
    folder.mkdir()
    (folder / f"{HEALTHY}.json").write_text(json.dumps(
        {"device": HEALTHY, "metrics": {"perf.embeddings_hz": {"value": 10.0, "unit": "Hz", "better": "higher"}}}
    ))  # fmt: skip
    current = _doc(_runs_of(HEALTHY)[-1])
    rows = history.compare(current, history.runs(reports, HEALTHY), history.profile_baseline(folder, HEALTHY))
    now = _value(current["run"]["id"], "perf.embeddings_hz")
    assert rows["perf.embeddings_hz"]["baseline"] == {
        "value": 10.0, "delta": pytest.approx(now - 10.0), "percent": pytest.approx((now - 10) * 10, abs=0.05),
        "source": "profile baseline",
    }  # fmt: skip
    assert rows["understanding.count"]["baseline"]["source"].startswith("run ")  # not in the profile's baseline
    assert history.profile_baseline(folder, "other") == {}


def test_first_run_has_nothing_to_compare(tmp_path):
    only = _runs_of(HEALTHY)[0]
    root = tmp_path / "reports"
    shutil.copytree(DATA / only, root / only)
    assert history.compare(_doc(only), history.runs(root, HEALTHY)) == {}


def test_trend_page_plots_each_figure_with_limits_and_stays_bounded(reports):
    text = trend.page(reports)
    series = history.series(history.runs(reports, HEALTHY))
    assert f'id="trend-{HEALTHY}"' in text and f'id="trend-{FAULTY}"' in text
    assert text.count("<svg") == len(series) + len(history.series(history.runs(reports, FAULTY)))
    limited = sum(1 for s in series.values() if s.get("low") is not None) + sum(
        1 for s in series.values() if s.get("high") is not None
    )
    section = text.split(f'id="trend-{HEALTHY}"')[1].split("<section")[0]
    assert section.count('class="limit"') == limited
    assert "<script" not in text and "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")
    # bounded: a page of the last 5 runs is as big with 40 more runs kept as with 80
    newest = _runs_of(HEALTHY)[-1]
    sizes = []
    for batch in (range(40), range(40, 80)):
        for i in batch:
            doc = _doc(newest)
            doc["run"].update(id=f"copy-{i:02d}", started=f"2099-01-01T00:{i:02d}:00+00:00")
            (reports / f"copy-{i:02d}").mkdir()
            (reports / f"copy-{i:02d}" / "summary.json").write_text(json.dumps(doc))
        sizes.append(len(trend.page(reports, limit=5)))
    assert len(history.runs(reports, HEALTHY, 5)) == 5 and sizes[0] == sizes[1]


def test_merge_builds_the_fleet_summary_a_fleet_run_makes(reports, tmp_path):
    dirs = [reports / _runs_of(HEALTHY)[-1], reports / _runs_of(FAULTY)[-1]]
    (dirs[1] / "report.html").write_text("<html>the job's own page</html>")
    out = tmp_path / "merged"
    doc = merge.write(dirs, out, "nightly-9")
    assert doc == {
        **fleet.build(doc["run"], {HEALTHY: _doc(dirs[0].name), FAULTY: _doc(dirs[1].name)}),
        "run": doc["run"],
    }
    assert doc["run"]["id"] == "nightly-9" and doc["run"]["devices"] == [HEALTHY, FAULTY]
    assert doc["run"]["verdict"] == "failed" and doc["run"]["exit_status"] == 1
    assert json.loads((out / "summary.json").read_text()) == doc
    for name, folder in ((HEALTHY, dirs[0]), (FAULTY, dirs[1])):
        assert json.loads((out / "devices" / name / "summary.json").read_text()) == _doc(folder.name)
    page = (out / "report.html").read_text()
    assert 'id="jetson-hil-fleet"' in page and f'id="jetson-hil-device-{FAULTY}"' in page
    assert page.count("jetson-hil-bad") >= 1  # the failing device's row is coloured
    assert f'href="devices/{FAULTY}/report.html"' in page and f'href="devices/{HEALTHY}/' not in page
    assert (out / "devices" / FAULTY / "report.html").read_text() == "<html>the job's own page</html>"


def test_merge_refuses_one_device_twice_and_a_folder_without_summary(reports, tmp_path):
    ids = _runs_of(HEALTHY)
    with pytest.raises(merge.MergeError, match=f"device {HEALTHY} is in both"):
        merge.parts([reports / ids[0], reports / ids[1]])
    with pytest.raises(merge.MergeError, match="no summary.json"):
        merge.parts([tmp_path])


def test_merge_of_a_merged_fleet_takes_its_devices(reports, tmp_path):
    first = merge.write([reports / _runs_of(HEALTHY)[-1]], tmp_path / "one")
    assert [p.name for p in merge.parts([tmp_path / "one"])] == [HEALTHY]
    again = merge.write([tmp_path / "one", reports / _runs_of(FAULTY)[-1]], tmp_path / "two")
    assert [r["device"] for r in again["fleet"]] == [HEALTHY, FAULTY] and first["fleet"][0] == again["fleet"][0]


def test_markdown_names_failing_checks_with_cause_and_the_figures_with_limits():
    faulty = _doc(_runs_of(FAULTY)[-1])
    text = github.markdown(faulty)
    failed = [t for t in faulty["tests"] if t["outcome"] in ("failed", "error")]
    assert failed and f"{faulty['run']['verdict']} on {FAULTY}" in text
    for t in failed:
        assert f"| {t['nodeid'].rsplit('::', 1)[-1]} |" in text
    for m in faulty["measurements"]:
        assert f"| {m['name']} |" in text
    assert "| task3 | failed |" in text


def test_cli_trend_merge_summary(reports, tmp_path, monkeypatch, capsys):
    assert cli.main(["report", "trend", str(reports), "--runs", "3"]) == 0
    assert (reports / "trend.html").is_file() and "last 3 runs" in (reports / "trend.html").read_text()
    out = tmp_path / "merged"
    dirs = [str(reports / _runs_of(HEALTHY)[-1]), str(reports / _runs_of(FAULTY)[-1])]
    assert cli.main(["report", "merge", *dirs, "--out", str(out)]) == 0
    step = tmp_path / "step.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step))
    assert cli.main(["report", "summary", str(out), "--github"]) == 0
    text = step.read_text()
    assert text.startswith("### jetson-hil fleet") and f"| {FAULTY} | failed |" in text
    last = _doc(_runs_of(HEALTHY)[-1])["run"]
    assert f"jetson-hil {last['id']}: {last['verdict']} on {HEALTHY}" in text


@pytest.mark.parametrize(
    "argv, says",
    [
        (["report", "merge", "/nonexistent"], "/nonexistent: no summary.json"),
        (["report", "trend", "/nonexistent"], "/nonexistent is not a directory"),
        (["report", "summary", "/nonexistent", "--github"], "no summary.json"),
    ],
)
def test_cli_bad_input_is_one_line(argv, says, capsys, monkeypatch):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert says in err and len(err.strip().splitlines()) == 1, err


def test_summary_github_without_the_variable_says_so(reports, capsys, monkeypatch):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    assert cli.main(["report", "summary", str(reports / _runs_of(HEALTHY)[-1]), "--github"]) == 2
    assert "GITHUB_STEP_SUMMARY is not set" in capsys.readouterr().err
