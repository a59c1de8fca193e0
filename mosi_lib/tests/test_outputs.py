"""Every output of the study is named once (``report.outputs.OUTPUTS``) and used by that name."""

import json
import re

import pandas as pd
import pytest
from matplotlib.figure import Figure

from mosi_lib import paths
from mosi_lib.report import outputs
from mosi_lib.report.outputs import (
    OUTPUTS,
    EmptyReport,
    OutputSet,
    of_notebook,
    output_dir,
    read_manifest,
)

SAVE_CALL = re.compile(r"save_(figure|table)\(\s*[^,]+,\s*([^,]+),")


def _notebook_sources():
    for nb in sorted((paths.PROJECT_ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(nb.read_text())["cells"]
        yield nb.stem, "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")


def test_stems_unique_per_kind_and_files_named():
    for kind in ("figure", "table"):
        stems = [o.stem for o in OUTPUTS.values() if o.kind == kind]
        assert len(stems) == len(set(stems)), kind
    assert OUTPUTS["loss_curves"].files == (
        "02_loss_curves.png",
        "02_loss_curves.pdf",
        "02_loss_curves.json",
    )
    assert OUTPUTS["comparison_table"].files[1] == "05_comparison_table.md"


def test_notebooks_save_only_registered_outputs():
    """No notebook writes a file name of its own: every save call passes ``OUTPUTS[key]`` with
    a known key, and every registered output is saved by the notebook it names."""
    saved = set()
    for name, src in _notebook_sources():
        for kind, arg in SAVE_CALL.findall(src):
            m = re.fullmatch(r'OUTPUTS\[(?:"(\w+)"|(name))\]', arg.strip())
            assert m, f"{name}: save_{kind}(..., {arg.strip()}) names a file outside OUTPUTS"
            keys = (
                [m.group(1)]
                if m.group(1)
                else [k for k, o in OUTPUTS.items() if o.notebook == name]
            )
            for key in keys:
                assert OUTPUTS[key].kind == kind and OUTPUTS[key].notebook == name, key
                saved.add(key)
    assert saved == set(OUTPUTS)


def test_readme_lists_every_output():
    readme = (paths.PROJECT_ROOT / "README.md").read_text()
    missing = [o.stem for o in OUTPUTS.values() if o.stem not in readme]
    assert not missing


def test_save_by_entry_and_kind_mismatch(tmp_path):
    files = outputs.save_figure(
        Figure(), OUTPUTS["tsne_latent"], runs=["r"], synthetic=False, out_dir=tmp_path
    )
    assert sorted(files) == sorted(OUTPUTS["tsne_latent"].files)
    files = outputs.save_table(
        pd.DataFrame({"a": [1]}), OUTPUTS["protocols"], tmp_path, caption="c"
    )
    assert sorted(files) == sorted(OUTPUTS["protocols"].files)
    with pytest.raises(ValueError, match="'07_protocols' is a table, saved as a figure"):
        outputs.save_figure(
            Figure(), OUTPUTS["protocols"], runs=["r"], synthetic=False, out_dir=tmp_path
        )
    with pytest.raises(ValueError, match="is a figure, saved as a table"):
        outputs.save_table(
            pd.DataFrame({"a": [1]}), OUTPUTS["loss_curves"], tmp_path, caption="c"
        )
    assert len(of_notebook("05_results")) == 6


def _write_05_set(out_dir, study, *, with_tsne=True):
    out = OutputSet("05_results", out_dir / "runs" / study, runs=["c1", "c2"], out_dir=out_dir)
    outputs.save_table(
        pd.DataFrame({"study": [study]}), OUTPUTS["comparison_table"], out.folder, caption=study
    )
    if with_tsne:
        outputs.save_figure(
            Figure(),
            OUTPUTS["tsne_latent"],
            runs=["dec-" + study],
            synthetic=False,
            out_dir=out.folder,
        )
    return out


def test_output_set_is_put_in_place_whole_and_never_mixes_studies(tmp_path):
    table = tmp_path / "05_comparison_table.csv"
    first = _write_05_set(tmp_path, "study_a").commit()
    assert "05_results.manifest.json" in first and table.exists()
    manifest = read_manifest(tmp_path / "05_results.manifest.json")
    assert manifest["study"] == "study_a"
    assert manifest["files"]["05_comparison_table.md"]["runs"] == ["c1", "c2"]
    assert manifest["files"]["03_tsne_latent.png"]["runs"] == ["dec-study_a"]  # its sidecar's
    # a report that fails half-way: files staged, never committed; the first set stays whole
    failed = _write_05_set(tmp_path, "study_b")
    assert pd.read_csv(table)["study"].tolist() == ["study_a"]
    assert (failed.folder / "05_comparison_table.csv").exists()
    # the next set starts by removing the failed staging; a study without DEC runs leaves no
    # t-SNE of study_a under the name
    second = _write_05_set(tmp_path, "study_c", with_tsne=False)
    assert not (failed.folder / "03_tsne_latent.png").exists()
    second.commit()
    assert pd.read_csv(table)["study"].tolist() == ["study_c"]
    assert not (tmp_path / "03_tsne_latent.png").exists()
    assert read_manifest(tmp_path / "05_results.manifest.json")["study"] == "study_c"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    with pytest.raises(FileNotFoundError, match="committed already"):
        second.commit()


def test_a_report_of_no_finished_run_is_refused_and_the_set_in_place_kept(tmp_path):
    """E05b: a study without a finished run gets one line, and no header-only table."""
    _write_05_set(tmp_path, "study_a").commit()
    before = (tmp_path / "05_comparison_table.csv").read_text()
    with pytest.raises(EmptyReport) as exc:
        OutputSet("05_results", tmp_path / "runs" / "empty", runs=[], out_dir=tmp_path)
    assert str(exc.value) == (f"05_results: study empty holds no finished run; its files in "
                              f"{tmp_path} (study study_a) are kept")
    assert (tmp_path / "05_comparison_table.csv").read_text() == before
    assert not (tmp_path / ".05_results.staging").exists()


def test_read_manifest_names_a_corrupt_file(tmp_path):
    assert read_manifest(tmp_path / "none.json") == {}
    bad = tmp_path / "05_results.manifest.json"
    bad.write_text('{"study": ')
    with pytest.raises(ValueError, match="manifest.json: not readable as JSON .*delete it"):
        read_manifest(bad)


def test_a_smoke_set_goes_to_its_studys_own_folder_never_over_figures(tmp_path):
    study = paths.runs_dir() / "s-smoke"
    assert output_dir(study) == paths.figures_dir()
    assert output_dir(study, smoke=True) == study / "figures" == output_dir("s-smoke", smoke=True)
    out = OutputSet("05_results", study, runs=["r"], smoke=True)
    outputs.save_table(pd.DataFrame({"acc": [0.7]}), OUTPUTS["comparison_table"],
                           out.folder, caption="c", smoke=True)
    written = out.commit()
    assert written["05_comparison_table.csv"] == study / "figures" / "05_comparison_table.csv"
    assert not paths.figures_dir().exists()
    assert (study / "figures" / "05_comparison_table.md").read_text().startswith(
        "Table: SMOKE (tiny test run, not a result): c")


def test_a_set_never_committed_leaves_no_staging_folder_when_its_kernel_ends(tmp_path):
    """Issue 37 (C15): a full figures folder stops 05 in a cell; when its kernel ends, the
    half set's staging folder goes, and the files in place stay as they were."""
    import subprocess
    import sys

    (tmp_path / "05_comparison_table.csv").write_text("a\n1\n")
    code = ("import sys; from pathlib import Path; from mosi_lib.report.outputs import OutputSet; "
            "s = OutputSet('05_results', 'st', runs=['r'], out_dir=sys.argv[1]); "
            "(s.folder / '05_comparison_table.csv').write_text('half'); "
            "raise OSError(28, 'No space left on device')")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True,
                          text=True)
    assert "No space left on device" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["05_comparison_table.csv"]
    assert (tmp_path / "05_comparison_table.csv").read_text() == "a\n1\n"
