"""Regenerate notebooks/NN_*.ipynb from the cell lists below (source of truth for their text).

Run: python tools/make_notebooks.py. Notebooks are written without outputs; papermill fills copies
under runs/<run_id>/notebooks/.
"""

from pathlib import Path

import nbformat as nbf

ROOT = Path(__file__).resolve().parents[1]

IMPORTS = """%matplotlib inline
%load_ext autoreload
%autoreload 2
import pandas as pd
from IPython.display import Markdown, display

from mosi_lib import config, experiments, plotting, preprocess, results, runs"""

PARAMS = """config_file = "quick.yaml"  # str: profile YAML under configs/ (quick | paper)
overrides = {}  # dict: dotted config keys, e.g. {"train.epochs": 50, "data.source": "csd"}
run_id = None  # str or None: study folder under runs/; None = the latest study (or a new one)
seed = 0  # int: system.seed for training and k-means
smoke = False  # bool: shrink epochs for tests and CI"""

SETUP = """cfg = config.load_config(config_file, {**overrides, "system.seed": seed})
if smoke:
    config.smoke(cfg)
study = runs.open_study(run_id, name=cfg.name)
data = preprocess.prepare_data(cfg.data)
tag = "SYNTHETIC data" if data.synthetic else f"real data ({data.meta['source']})"
display(Markdown(f"**Study** `{study.name}` · **config** `{cfg.name}` · **{tag}** · "
                 f"protocol `{cfg.data.protocol}` · cache hit: {data.meta['cache']['hit']}"))"""

PARAMS_SWEEP = """config_file = "quick.yaml"  # str: profile YAML under configs/ (quick | paper)
overrides = {}  # dict: dotted config keys, e.g. {"train.epochs": 50}
run_id = None  # str or None: study folder under runs/; None = the latest sweep study (or new)
seeds = [0]  # list of int: training seeds; 5 for intervals and tests
fractions = [0.05, 0.1, 0.2, 0.4, 0.6, 1.0]  # list of float: labeled share of training rows
protocol = "standard"  # str: standard (fixed speaker-independent test fold) or paper
smoke = False  # bool: shrink epochs for tests and CI"""

PARAMS_ABL = """config_file = "quick.yaml"  # str: profile YAML under configs/ (quick | paper)
overrides = {}  # dict: dotted config keys, e.g. {"data.labeled_fraction": 0.4}
run_id = None  # str or None: study folder; None = the latest ablations study (or a new one)
seeds = [0]  # list of int: training seeds; 5 for intervals and tests
variants = ["none", "ae", "dec_unsup", "dec_semi", "dec_no_disent"]  # pretraining ablation
modality_sets = ["T", "A", "V", "TA", "TV", "AV", "TAV"]  # modality ablation (from scratch)
protocols = ["paper", "standard"]  # protocol comparison of scratch vs DEC; [] skips it
protocol = "standard"  # str: standard (fixed speaker-independent test fold) or paper
smoke = False  # bool: shrink epochs for tests and CI"""

SETUP_EXP = """cfg = config.load_config(config_file, {**overrides, "data.protocol": protocol})
if smoke:
    config.smoke(cfg)
study = runs.open_study(run_id, name=f"{cfg.name}-{EXPERIMENT}", kind=EXPERIMENT)
print("study:", study.name, "· seeds:", seeds, "· protocol:", protocol)"""

NOTEBOOKS = {
    "01_preprocess": [
        ("md", """# 01 · Preprocess CMU-MOSI

Loads the raw data (the synthetic MOSI-shaped default, written in the real `.csd` layout, or real
CMU-MOSI files), pads/truncates to `data.max_len` steps, scales each modality with statistics fitted
on training rows only, draws the labeled/unlabeled pools and train/validation(/test) splits, and
caches the arrays to HDF5 under `data/processed/`.

**Inputs**: `data.source`, `data.data_dir` (config). **Outputs**: the cache file; plots and tables in
`runs/<run_id>/01_preprocess/`."""),
        ("code", IMPORTS),
        ("params", PARAMS),
        ("code", SETUP),
        ("md", "## What the loader read, replaced or dropped"),
        ("code", """display(pd.Series(data.meta["report"], name="count").to_frame())
print("modalities:", data.dims, "· segments:", len(data), "· videos:", len(set(data.video)))"""),
        ("md", "## Segments per split and pool"),
        ("code", """counts = preprocess.split_counts(data)
display(counts)"""),
        ("md", "## Labels, sequence lengths and feature statistics"),
        ("code", """out_dir = study / "01_preprocess"
figs = {
    "label_histogram": plotting.plot_label_histogram(data, synthetic=data.synthetic),
    "length_histogram": plotting.plot_length_histogram(data),
    "feature_stats": plotting.plot_feature_stats(data),
}
for name, fig in figs.items():
    plotting.save_figure(fig, name, runs=[study.name], out_dir=out_dir, synthetic=data.synthetic)
    display(fig)"""),
        ("code", """summary = preprocess.feature_summary(data)
display(summary)"""),
        ("code", """counts.to_csv(out_dir / "split_counts.csv", index=False)
summary.to_csv(out_dir / "feature_summary.csv", index=False)
print("cache:", data.meta["cache"]["path"])
print("outputs:", sorted(p.name for p in out_dir.iterdir()))"""),
    ],
    "02_baseline": [
        ("md", """# 02 · Transformer baseline on the labeled pool

Trains the per-modality transformer classifier from scratch on the labeled pool's training rows
(40% of segments by default) with the paper's recipe (Adam, lr 4e-5, weight decay 1e-2, batch 128;
epochs from the profile) and keeps the checkpoint with the best validation accuracy.

**Outputs**: one run folder `runs/<run_id>/<time>_baseline_labeled_s<seed>/` (config, history,
metrics, checkpoints)."""),
        ("code", IMPORTS),
        ("params", PARAMS),
        ("code", SETUP),
        ("code", """run = experiments.train_classifier(
    cfg, data, labels="labeled", root=study,
    run_id=runs.make_run_id("baseline_labeled", cfg.system.seed),
    extra={"notebook": "02_baseline"},
)
m = run.metrics()
print(f"{run.run_id}: {m['n_params']:,} parameters, best epoch {m['best_epoch']}, "
      f"{m['train_seconds']:.0f} s on {m['device']}")"""),
        ("md", "## Metrics (best checkpoint)"),
        ("code", """display(pd.DataFrame({s: m[s] for s in ("valid", "test") if m[s]}).T.round(4))"""),
        ("md", "## Loss curves"),
        ("code", """fig = plotting.plot_loss_curves(run.history(), title=f"Baseline, labeled pool ({tag})")
display(fig)"""),
        ("code", """print("run folder:", run.path)
print("files:", sorted(p.name for p in run.path.iterdir()))"""),
    ],
    "03_dec_pretrain": [
        ("md", """# 03 · Multimodal semi-supervised DEC pretraining

Stage 1 trains the autoencoder (reconstruction + disentanglement); stage 2 initialises the cluster
centres by k-means on the latent z and minimises KL(P‖Q) + a·reconstruction + b·cross-entropy on
the labeled training rows. Features of every segment are used; labels only from the labeled pool.

**Outputs**: `runs/<run_id>/<time>_dec_s<seed>/` with `checkpoints/{stage1,last}.pt`,
`latents.npz` (for the t-SNE figure), `history.csv` and cluster metrics in `metrics.json`."""),
        ("code", IMPORTS),
        ("params", PARAMS),
        ("code", SETUP),
        ("code", """run = experiments.pretrain_dec(
    cfg, data, root=study, run_id=runs.make_run_id("dec", cfg.system.seed),
    extra={"notebook": "03_dec_pretrain"},
)
m = run.metrics()
print(f"{run.run_id}: {m['n_params_total']:,} parameters ({m['n_params_encoder']:,} in the "
      f"encoder), {m['train_seconds']:.0f} s on {m['device']}, stopped early: {m['stopped_early']}")"""),
        ("md", "## Cluster metrics against the true binary labels (reporting only, never trained on)"),
        ("code", """display(pd.DataFrame(m["cluster"]).T.round(4))
print("cluster sizes:", m["cluster_sizes"])
display(pd.DataFrame(m["target_updates"]).tail())"""),
        ("md", "## Loss curves"),
        ("code", """fig = plotting.plot_dec_curves(run.history())
display(fig)"""),
        ("code", """print("run folder:", run.path)
print("files:", sorted(p.name for p in run.path.iterdir()))"""),
    ],
    "04_finetune": [
        ("md", """# 04 · Fine-tune the DEC-initialised classifier

Copies the DEC encoder into the classifier (the transfer report lists every tensor) and fine-tunes
on the labeled pool and on all training labels. For a fair comparison the baseline is also trained
on all labels here (the labeled-pool baseline comes from 02).

**Inputs**: the latest DEC run of the study (03). **Outputs**: three run folders."""),
        ("code", IMPORTS),
        ("params", PARAMS),
        ("code", SETUP),
        ("code", """dec_run = runs.latest_run(study, kind="dec", seed=cfg.system.seed)
print("DEC run:", dec_run.run_id)
jobs = {
    "dec_ft_labeled": dict(labels="labeled", init_run=dec_run),
    "dec_ft_all": dict(labels="all", init_run=dec_run),
    "baseline_all": dict(labels="all", init_run=None),
}
done = {}
for name, kw in jobs.items():
    done[name] = experiments.train_classifier(
        cfg, data, root=study, run_id=runs.make_run_id(name, cfg.system.seed),
        extra={"notebook": "04_finetune"}, **kw,
    )
    print(name, "->", done[name].run_id)"""),
        ("md", "## Transfer report (DEC encoder -> classifier)"),
        ("code", """t = done["dec_ft_labeled"].metrics()["transfer"]
print(f"copied {len(t['copied'])} tensors ({t['n_copied_params']:,} parameters); "
      f"left at initialisation: {t['not_copied']}")"""),
        ("md", "## Metrics (best checkpoints)"),
        ("code", """rows = {name: {"report split": r.metrics()["report_split"], **r.metrics()["report"]}
        for name, r in done.items()}
display(pd.DataFrame(rows).T)"""),
        ("code", """for name, r in done.items():
    display(plotting.plot_loss_curves(r.history(), title=f"{name} ({tag})"))"""),
    ],
    "05_results": [
        ("md", """# 05 · Results: figures and the comparison table

Reads only `runs/<run_id>/` (never trains) and writes `figures/`: the baseline loss curves (paper
Figure 3), the DEC loss curves, the t-SNE of the DEC latent space (paper Figure 4) and the
comparison table (paper Table 1) as CSV, Markdown and LaTeX. Everything from synthetic data says so."""),
        ("code", IMPORTS),
        ("params", PARAMS),
        ("code", """cfg = config.load_config(config_file, {**overrides, "system.seed": seed})
if smoke:
    config.smoke(cfg)
study = runs.open_study(run_id, name=cfg.name)
table_runs = results.collect_runs(study)
synthetic = bool(table_runs["synthetic"].any()) if len(table_runs) else False
print(f"study {study.name}: {len(table_runs)} classifier runs; synthetic: {synthetic}")"""),
        ("md", "## Comparison table (paper Table 1)"),
        ("code", """table = results.comparison_table(table_runs)
written = results.save_table(table, "05_comparison_table",
                             caption=f"CMU-MOSI binary sentiment, study {study.name}")
display(table)"""),
        ("md", """## DEC vs from scratch, paired over seeds

Differences in points of accuracy (DEC minus scratch) over the seeds both variants ran, with a 95%
Student-t interval, the paired t-test and the exact Wilcoxon signed-rank test (`mosi_lib.stats`).
One seed gives no spread: run `python -m mosi_lib reproduce --seeds 0 1 2 3 4` for tests."""),
        ("code", """paired = results.paired_table(table_runs)
written.update(results.save_table(paired.round(4), "05_paired_tests",
                                  caption=f"DEC vs scratch over seeds, study {study.name}"))
display(paired.round(4))"""),
        ("md", "## Baseline loss curves (paper Figure 3)"),
        ("code", """base = runs.latest_run(study, kind="classifier", init="scratch", labels="labeled")
fig = plotting.plot_loss_curves(base.history(), title="Transformer baseline, labeled pool")
written.update(plotting.save_figure(fig, "02_loss_curves", runs=[base.run_id], synthetic=synthetic))
display(fig)"""),
        ("md", "## DEC pretraining curves"),
        ("code", """dec = runs.latest_run(study, kind="dec")
fig = plotting.plot_dec_curves(dec.history())
written.update(plotting.save_figure(fig, "03_dec_curves", runs=[dec.run_id], synthetic=synthetic))
display(fig)"""),
        ("md", "## t-SNE of the DEC latent space after stage 2 (paper Figure 4)"),
        ("code", """lat = dec.latents()
rep = cfg.report
fig, info = plotting.plot_tsne_latent(
    lat["z"], lat["label"], lat["cluster"], perplexity=rep.tsne_perplexity, init=rep.tsne_init,
    seed=cfg.system.seed if rep.tsne_seed is None else rep.tsne_seed,
    max_points=rep.tsne_max_points,
)
written.update(plotting.save_figure(fig, "03_tsne_latent", runs=[dec.run_id],
                                    synthetic=synthetic, extra=info))
print(info)
display(fig)"""),
        ("code", """for name, path in sorted(written.items()):
    print(f"{name:>8}: {path}")"""),
    ],
    "06_label_sweep": [
        ("md", """# 06 · Label-efficiency sweep (beyond the paper)

The paper's central claim as a curve: accuracy of the classifier from scratch and initialised by
the multimodal semi-supervised DEC, against the share of labeled training segments (5% to 100%).
DEC always pretrains on every segment's features and sees only the labels of the labeled pool.
Default protocol `standard`: the labeled pool is drawn inside the speaker-independent train fold
(pools are nested across fractions), the checkpoint is selected on the valid fold and reported on
the test fold, so every fraction is scored on the same held-out segments.

**Outputs**: runs tagged `sweep` in `runs/<study>/`; `figures/06_label_sweep.{png,pdf,json}`,
`figures/06_label_sweep.{csv,md,tex}` and `figures/06_sweep_paired_tests.*`. Finished grid points
are reused, so re-running with more seeds only trains the new ones."""),
        ("code", IMPORTS),
        ("params", PARAMS_SWEEP),
        ("code", 'EXPERIMENT = "sweep"\n' + SETUP_EXP),
        ("code", """experiments.label_sweep(cfg, fractions=fractions, seeds=seeds, root=study)"""),
        ("md", "## Accuracy against labeled fraction (mean over seeds, 95% Student-t interval)"),
        ("code", """sweep = results.collect_runs(study)
sweep = sweep[sweep["tag"] == "sweep"]
synthetic = bool(sweep["synthetic"].any())
summary = results.summary_table(sweep, ["init", "labeled_fraction"])
written = results.save_table(summary.round(3), "06_label_sweep",
                             caption=f"Label-efficiency sweep, study {study.name}")
display(summary.round(2))"""),
        ("code", """fig = plotting.plot_label_sweep(summary, metric="acc_has0",
                               title=f"Label efficiency ({protocol} protocol)")
written.update(plotting.save_figure(fig, "06_label_sweep", runs=[study.name],
                                    synthetic=synthetic))
display(fig)"""),
        ("md", "## DEC minus scratch per fraction, paired over seeds"),
        ("code", """paired = results.paired_table(sweep)
written.update(results.save_table(paired.round(4), "06_sweep_paired_tests",
                                  caption=f"Sweep: DEC vs scratch over seeds, study {study.name}"))
display(paired.round(4))
for name, path in sorted(written.items()):
    print(f"{name:>26}: {path}")"""),
    ],
    "07_ablations": [
        ("md", """# 07 · Ablations (beyond the paper): pretraining objective and modalities

**Pretraining** at the configured labeled fraction (40%): no pretraining; autoencoder only (the
stage-1 checkpoint); unsupervised DEC (b = 0); semi-supervised DEC (the paper); DEC without the
disentanglement term (g = 0). Does clustering pretraining beat plain autoencoder pretraining?
Each variant is compared with no pretraining by a paired test over seeds.

**Modalities**: the classifier from scratch on T, A, V, TA, TV, AV and TAV.

**Protocols**: from scratch vs DEC-initialised under the paper's and the standard protocol.

**Outputs**: runs tagged `pretrain:<variant>` and `modality`; `figures/07_pretrain_ablation.*`,
`figures/07_pretrain_paired_tests.*`, `figures/07_modality_ablation.*`, `figures/07_protocols.*`."""),
        ("code", IMPORTS),
        ("params", PARAMS_ABL),
        ("code", 'EXPERIMENT = "ablations"\n' + SETUP_EXP),
        ("code", """data = preprocess.prepare_data(cfg.data)
experiments.pretrain_ablation(cfg, data, seeds=seeds, root=study, variants=variants)
experiments.modality_ablation(cfg, sets=modality_sets, seeds=seeds, root=study)
experiments.protocol_comparison(cfg, protocols=protocols, seeds=seeds, root=study)"""),
        ("md", "## Pretraining ablation"),
        ("code", """df = results.collect_runs(study)
synthetic = bool(df["synthetic"].any())
pre = df[df["tag"].str.startswith("pretrain:")]
pre_summary = results.summary_table(pre, ["tag"])
written = results.save_table(pre_summary.round(3), "07_pretrain_ablation",
                             caption=f"Pretraining ablation, study {study.name}")
display(pre_summary.round(2))
pre_paired = results.paired_vs(pre, by="tag", reference="pretrain:none")
written.update(results.save_table(pre_paired.round(4), "07_pretrain_paired_tests",
                                  caption=f"Pretraining variants vs none, study {study.name}"))
display(pre_paired.round(4))"""),
        ("md", "## Modality ablation (from scratch)"),
        ("code", """mod = df[df["tag"] == "modality"]
mod_summary = results.summary_table(mod, ["modalities"])
written.update(results.save_table(mod_summary.round(3), "07_modality_ablation",
                                  caption=f"Modality ablation, study {study.name}"))
display(mod_summary.round(2))"""),
        ("md", """## Protocols: the paper's and the standard one

Same comparison (from scratch vs DEC-initialised, labeled pool) under both protocols, both zero
conventions. `paper`: the checkpoint is chosen and reported on the same random validation rows,
so its numbers are biased upwards and speakers are shared between training and evaluation;
`standard`: speaker-independent folds, chosen on valid, reported on the held-out test fold."""),
        ("code", """prot = df[df["tag"].str.startswith("protocol:")]
prot_summary = results.summary_table(prot, ["tag", "init"])
written.update(results.save_table(prot_summary.round(3), "07_protocols",
                                  caption=f"Protocol comparison, study {study.name}"))
display(prot_summary.round(2))
for name, path in sorted(written.items()):
    print(f"{name:>30}: {path}")"""),
    ],
}


def build(name: str, cells: list[tuple[str, str]]) -> nbf.NotebookNode:
    nb = nbf.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    }
    for kind, src in cells:
        if kind == "md":
            nb.cells.append(nbf.v4.new_markdown_cell(src))
        else:
            cell = nbf.v4.new_code_cell(src)
            if kind == "params":
                cell.metadata["tags"] = ["parameters"]
            nb.cells.append(cell)
    for i, cell in enumerate(nb.cells):
        cell.id = f"{name[:2]}-{i:02d}"
    return nb


if __name__ == "__main__":
    for name, cells in NOTEBOOKS.items():
        path = ROOT / "notebooks" / f"{name}.ipynb"
        nbf.write(build(name, cells), path)
        print("wrote", path.relative_to(ROOT))
