"""Every figure and table the study writes, named once: key -> file stem, kind, notebook, subject.

The notebooks save through these entries (``plotting.save_figure(fig, OUTPUTS["loss_curves"],
...)``, ``results.save_table(df, OUTPUTS["comparison_table"], ...)``); the smoke tests, the
``make figures`` test and the README check read the same table, so renaming an output is one
edit here. A stem starts with the number of the notebook whose data it shows (``02_loss_curves``
shows the baseline run of notebook 02, drawn by 05); ``where`` says the folder: ``figures`` is
``paths.figures_dir()`` and ``study`` is ``runs/<study>/01_preprocess``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Output:
    """One figure (``.png``, ``.pdf``, ``.json`` sidecar) or table (``.csv``, ``.md``, ``.tex``).

    Attributes: ``stem`` the file name without extension; ``kind`` ``figure`` or ``table``;
    ``notebook`` the notebook that writes it; ``shows`` what it shows; ``where`` its folder.
    """

    stem: str
    kind: str
    notebook: str
    shows: str
    where: str = "figures"

    @property
    def files(self) -> tuple[str, ...]:
        """The file names it is written as."""
        exts = ("png", "pdf", "json") if self.kind == "figure" else ("csv", "md", "tex")
        return tuple(f"{self.stem}.{e}" for e in exts)


def _o(stem: str, kind: str, notebook: str, shows: str, where: str = "figures") -> Output:
    return Output(stem, kind, notebook, shows, where)


OUTPUTS: dict[str, Output] = {
    # 01_preprocess: the data, in the study folder
    "label_histogram": _o("label_histogram", "figure", "01_preprocess",
                          "sentiment scores per split and pool", "study"),
    "length_histogram": _o("length_histogram", "figure", "01_preprocess",
                           "valid steps per segment and modality", "study"),
    "feature_stats": _o("feature_stats", "figure", "01_preprocess",
                        "scaled feature means and spreads per modality", "study"),
    # 05_results: the paper's figures and table
    "loss_curves": _o("02_loss_curves", "figure", "05_results",
                      "training and validation loss of the baseline (40%)"),
    "dec_curves": _o("03_dec_curves", "figure", "05_results",
                     "DEC losses of both stages, cluster accuracy"),
    "tsne_latent": _o("03_tsne_latent", "figure", "05_results",
                      "t-SNE of the DEC latent space by label and by cluster"),
    "comparison_table": _o("05_comparison_table", "table", "05_results",
                           "accuracy and F1 of every condition beside the paper's Table 1"),
    "paired_tests": _o("05_paired_tests", "table", "05_results",
                       "DEC-initialised minus from-scratch, paired by seed"),
    "dec_clusters": _o("05_dec_clusters", "table", "05_results",
                       "DEC clusters: sizes, agreement with the labels, stage-2 epochs"),
    # 06_label_sweep
    "label_sweep": _o("06_label_sweep", "figure", "06_label_sweep",
                      "accuracy against the labeled fraction, scratch and DEC"),
    "label_sweep_table": _o("06_label_sweep", "table", "06_label_sweep",
                            "the sweep's numbers per fraction and initialisation"),
    "sweep_paired_tests": _o("06_sweep_paired_tests", "table", "06_label_sweep",
                             "DEC minus scratch per fraction, paired by seed"),
    # 07_ablations
    "pretrain_ablation": _o("07_pretrain_ablation", "table", "07_ablations",
                            "pretraining variants against none"),
    "pretrain_paired_tests": _o("07_pretrain_paired_tests", "table", "07_ablations",
                                "each pretraining variant minus none, paired by seed"),
    "modality_ablation": _o("07_modality_ablation", "table", "07_ablations",
                            "modality subsets"),
    "protocols": _o("07_protocols", "table", "07_ablations", "the evaluation protocols"),
}
"""Key -> ``Output``: the one place where an output's file name is written."""


def of_notebook(notebook: str) -> list[Output]:
    """The outputs ``notebook`` (e.g. ``05_results``) writes."""
    return [o for o in OUTPUTS.values() if o.notebook == notebook]


def stem_of(name: str | Output, kind: str) -> str:
    """File stem of ``name`` (an ``Output`` of ``kind``, or a plain stem for ad-hoc use).

    Raises:
        ValueError: an ``Output`` of the other kind (a table saved as a figure).
    """
    if isinstance(name, Output):
        if name.kind != kind:
            raise ValueError(f"output {name.stem!r} is a {name.kind}, saved as a {kind}")
        return name.stem
    return name
