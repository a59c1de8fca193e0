"""Generated blocks of README.md and docs/: filled from the committed summaries, checked."""

from __future__ import annotations

import json

import pytest

from mosi_lib import paths
from mosi_lib.report import pages

CSV = ("Model,Acc-2 has0,Seeds\n"
       "Transformer (40%),76.65 ± 0.79,\"5 (0,1,2,3,4)\"\nTF-IDF | LR,62.42,5\n")
SIDECAR = {"files": ["demo_table.csv"], "command": "python -m mosi_lib reproduce --seeds 0 1",
           "commit": "abc1234", "machine": "2-core CPU", "date": "2026-12-06",
           "data": "real CMU-MOSI", "config": {"protocol": "standard", "seeds": [0, 1, 2, 3, 4]}}


@pytest.fixture
def root(tmp_path):
    (tmp_path / "docs" / "results").mkdir(parents=True)
    (tmp_path / "docs" / "results" / "demo_table.csv").write_text(CSV, encoding="utf-8")
    (tmp_path / "docs" / "results" / "demo.json").write_text(json.dumps(SIDECAR))
    return tmp_path


def page(root, attrs="", body="old\n", name="README.md"):
    p = root / name
    p.write_text(f"# Title\n\n<!-- BEGIN generated: docs/results/demo_table.csv{attrs} -->\n"
                 f"{body}<!-- END generated -->\n\nAfter.\n", encoding="utf-8")
    return p


def test_fill_writes_the_table_and_its_source(root):
    attrs = ' columns="Model|Acc-2 has0" rows="Transformer" protocol=standard seeds=0,1,2,3,4'
    p = page(root, attrs)
    assert pages.write_all(root) == [p]
    assert p.read_text(encoding="utf-8") == (
        f"# Title\n\n<!-- BEGIN generated: docs/results/demo_table.csv{attrs} -->\n"
        "| Model | Acc-2 has0 |\n|---|---:|\n| Transformer (40%) | 76.65 ± 0.79 |\n\n"
        "<sub>Generated from [demo_table.csv](docs/results/demo_table.csv) (real CMU-MOSI): "
        "`python -m mosi_lib reproduce --seeds 0 1`, commit abc1234, 2-core CPU, "
        "2026-12-06.</sub>\n"
        "<!-- END generated -->\n\nAfter.\n")
    assert pages.check(root) == []
    assert pages.write_all(root) == []  # a second fill changes nothing


def test_cells_are_kept_as_written_and_pipes_escaped(root):
    page(root)
    pages.write_all(root)
    text = (root / "README.md").read_text(encoding="utf-8")
    assert "| TF-IDF \\| LR | 62.42 | 5 |" in text
    assert "| Transformer (40%) | 76.65 ± 0.79 | 5 (0,1,2,3,4) |" in text


def test_link_is_relative_to_the_page(root):
    page(root, name="docs/results.md")
    pages.write_all(root)
    assert "[demo_table.csv](results/demo_table.csv)" in (root / "docs/results.md").read_text()


def test_a_hand_edit_between_markers_fails_the_check(root):
    p = page(root)
    pages.write_all(root)
    p.write_text(p.read_text(encoding="utf-8").replace("76.65", "76.95"), encoding="utf-8")
    problems = pages.check(root)
    assert len(problems) == 1
    assert "README.md" in problems[0] and "demo_table.csv differs" in problems[0]


def test_an_edit_outside_the_markers_is_free(root):
    p = page(root)
    pages.write_all(root)
    text = p.read_text(encoding="utf-8")
    p.write_text(text.replace("After.", "After, 99.9%."), encoding="utf-8")
    assert pages.check(root) == []


def test_a_config_the_summary_did_not_record_fails(root):
    page(root, " protocol=paper")
    assert pages.check(root) == [
        f"{root / 'README.md'}: block of docs/results/demo_table.csv says protocol=paper, "
        "but demo.json records protocol=standard"]
    page(root, " profile=quick")
    with pytest.raises(ValueError, match="records no config 'profile'"):
        pages.fill(root / "README.md", root)


def test_bad_blocks_name_the_file_and_what_is_wrong(root):
    page(root, ' columns="Model|F1"')
    with pytest.raises(ValueError, match=r"column\(s\) \['F1'\]"):
        pages.fill(root / "README.md", root)
    page(root, ' rows="nothing like it"')
    with pytest.raises(ValueError, match="no row's first column"):
        pages.fill(root / "README.md", root)
    (root / "README.md").write_text(
        "<!-- BEGIN generated: docs/results/gone.csv -->\n<!-- END generated -->\n")
    with pytest.raises(FileNotFoundError, match="gone.csv, which does not exist"):
        pages.fill(root / "README.md", root)


def test_a_summary_without_provenance_is_refused(root):
    page(root)
    (root / "docs/results/demo.json").write_text(json.dumps({"files": ["demo_table.csv"]}))
    with pytest.raises(ValueError, match="demo.json: sidecar lacks command, commit, machine"):
        pages.fill(root / "README.md", root)
    (root / "docs/results/demo.json").unlink()
    with pytest.raises(ValueError, match="no sidecar"):
        pages.fill(root / "README.md", root)


def test_the_project_pages_match_their_summaries():
    """README.md and docs/*.md: every generated block equals what its summary gives."""
    problems = pages.check(paths.PROJECT_ROOT)
    assert not problems, "\n".join(problems)


def test_cli_docs_fills_and_checks(root, monkeypatch, capsys):
    from mosi_lib.__main__ import main

    monkeypatch.setattr(paths, "PROJECT_ROOT", root)
    p = page(root)
    assert main(["docs", "--check"]) == 1
    assert "demo_table.csv differs" in capsys.readouterr().err
    assert main(["docs"]) == 0
    assert "filled README.md" in capsys.readouterr().out
    assert main(["docs", "--check"]) == 0
    p.write_text(p.read_text(encoding="utf-8").replace("76.65", "76.95"), encoding="utf-8")
    assert main(["docs", "--check"]) == 1
    page(root, " protocol=paper")
    assert main(["docs"]) == 2
    assert "records protocol=standard" in capsys.readouterr().err


def test_the_record_made_summaries_are_recomputed_from_their_records():
    """Every family/arm table under docs/results/ is what its tool computes from the committed
    per-run records today (a changed record or a hand-edited number is caught)."""
    made = pages.derived(paths.PROJECT_ROOT)
    assert any(csv.name == "mpnet_standard_family.csv" for csv, _ in made)
    problems = pages.rederive(paths.PROJECT_ROOT, check=True)
    assert not problems, "\n".join(problems)


def test_rederive_names_a_summary_its_records_do_not_give(tmp_path):
    """A copy of the project's mpnet family table with one number changed: named, and
    `rederive` without check writes the computed one back."""
    import shutil

    results = tmp_path / "docs" / "results"
    results.mkdir(parents=True)
    src = paths.PROJECT_ROOT / "docs" / "results"
    for name in ("mpnet_standard_family.csv", "mpnet_standard_family.json",
                 "mpnet_standard_runs.csv", "mpnet_standard_runs.json",
                 "mpnet_standard_predictions.csv.gz"):
        shutil.copy(src / name, results / name)
    shutil.copytree(paths.PROJECT_ROOT / "tools", tmp_path / "tools")
    csv = results / "mpnet_standard_family.csv"
    good = csv.read_bytes()
    csv.write_bytes(good.replace(b"0.4373", b"0.9373", 1))
    assert [p.split(":")[0] for p in pages.rederive(tmp_path, check=True)] == [
        "docs/results/mpnet_standard_family.csv"]
    assert pages.rederive(tmp_path) == [] and csv.read_bytes() == good
    (results / "mpnet_standard_runs.csv").unlink()
    assert "failed" in pages.rederive(tmp_path, check=True)[0]


def _family_row(**kw):
    row = {"comparison": "dec - scratch", "labeled_fraction": "0.4", "n": "20",
           "mean_diff": "1.5", "boot_low": "0.4", "boot_high": "2.6", "p_holm": "0.01",
           "wins": "15", "detectable": "1.2"}
    return {**row, **kw}


@pytest.mark.parametrize("kw, ends", [
    ({}, "A gain of at least 0.40 points is established."),
    # the interval excludes 0 but Holm's correction over the family does not support it
    ({"p_holm": "0.2"}, "Nothing is established; a gain larger than 2.60 points is ruled out "
                        "(the design detects 1.20 points with 80% power)."),
    ({"mean_diff": "-2", "boot_low": "-3.1", "boot_high": "-0.7"},
     "It hurts: a loss of at least 0.70 points is established."),
    ({"mean_diff": "-2", "boot_low": "-3.1", "boot_high": "-0.7", "p_holm": "0.3"},
     "Nothing is established; any gain is ruled out (the design detects 1.20 points with 80% "
     "power)."),
])
def test_an_answer_sentence_says_what_the_interval_and_holm_establish(kw, ends):
    text = pages.answer_sentence(_family_row(**kw))
    assert text.startswith("**DEC − scratch, 40% of the labels** (20 paired seeds): ")
    assert text.endswith(ends)


def test_an_answer_block_needs_a_family_summary(root):
    page(root, ' form=answer')
    with pytest.raises(ValueError, match=r"form=answer needs the paired-family columns"):
        pages.write_all(root)
    page(root, ' form=essay')
    with pytest.raises(ValueError, match=r"form=essay; expected table or answer"):
        pages.write_all(root)


def test_an_answer_block_is_filled_from_the_family_rows(root):
    fam = root / "docs" / "results" / "fam.csv"
    pd = pytest.importorskip("pandas")
    pd.DataFrame([_family_row(), _family_row(comparison="ae - scratch", p_holm="0.5")]).to_csv(
        fam, index=False)
    (root / "docs" / "results" / "fam.json").write_text(
        json.dumps({**SIDECAR, "files": ["fam.csv"]}))
    p = root / "README.md"
    p.write_text("<!-- BEGIN generated: docs/results/fam.csv form=answer rows=\"ae - \" -->\n"
                 "<!-- END generated -->\n", encoding="utf-8")
    pages.write_all(root)
    text = p.read_text(encoding="utf-8")
    assert "- **The autoencoder − scratch, 40% of the labels** (20 paired seeds): +1.50" in text
    assert "DEC" not in text and pages.check(root) == []


def test_a_summary_of_several_batches_names_each_command_commit_and_date(root):
    side = {**SIDECAR, "command": ["python a --seeds 0", "python a --seeds 1"],
            "commit": ["abc1234", "abc1234"], "date": ["2026-12-07", "2026-12-08"]}
    (root / "docs" / "results" / "demo.json").write_text(json.dumps(side))
    page(root)
    pages.write_all(root)
    assert ("`python a --seeds 0`; `python a --seeds 1`, commit abc1234, 2-core CPU, "
            "2026-12-07, 2026-12-08.</sub>") in (root / "README.md").read_text(encoding="utf-8")


def test_an_answer_sentence_writes_a_zero_difference_without_a_minus():
    text = pages.answer_sentence(_family_row(mean_diff="-2.368476e-15", p_holm="1"))
    assert ": +0.00 points," in text
