"""The semi-supervised arms beyond DEC (issue 34): self-training, mean teacher, CMC pretraining.

Hand-computed values of their pure parts (pseudo-label selection, the EMA update, InfoNCE,
the consistency cost), each arm's fit lowering its training loss on the synthetic fixture, the
study wiring (run folders, reuse by recipe), one-line refusals of bad options, and the recipe
hashes of runs recorded before the arms existed, pinned.
"""

import copy
import math

import numpy as np
import pytest
import torch
from torch import nn

from mosi_lib import losses, models, runs
from mosi_lib.config import SemiConfig, SystemConfig, TrainConfig, load_config
from mosi_lib.data.preprocess import preprocess
from mosi_lib.runs import recipe_hash, result_overrides
from mosi_lib.study import classifier_runs, grids
from mosi_lib.study.execution import variant_cfg
from mosi_lib.study.pretrain_runs import pretrain_contrastive
from mosi_lib.tests.conftest import make_raw
from mosi_lib.train import loop
from mosi_lib.train.loop import DeviceData
from mosi_lib.train.semi import (
    build_contrastive,
    ema_decay_at,
    ema_update,
    fit_contrastive,
    fit_mean_teacher,
    fit_self_training,
    perturb,
    pseudo_candidates,
    select_pseudo_labels,
    usable_rows,
)

QUIET = SystemConfig(amp=False, progress=False)


@pytest.fixture
def data(tiny_config):
    return preprocess(make_raw(n=160), tiny_config.data)


# ----------------------------------------------------------------------------- recipe hashes


# computed at commit 37d48ec, before the semi section existed: the running study's runs are
# matched by these values, so no later change may move them. The quick profile then ran the
# paper protocol (its default since: standard), so its pinned config names that protocol.
PINNED = {("quick.yaml", "paper"): ("8e17ca3ffd2dc0fe", "c76df9057896345c"),
          (None, "paper"): ("9b24137a792ce9b4", "c058ecad6db91b33")}


@pytest.mark.parametrize("config_file, protocol", list(PINNED))
def test_recipe_hash_of_earlier_configs_unchanged(config_file, protocol):
    cfg = load_config(config_file, {"data.protocol": protocol})
    assert (recipe_hash(cfg), recipe_hash(cfg, "dec")) == PINNED[config_file, protocol]
    # a config.yaml written before the section (no "semi" key) hashes the same
    old = cfg.to_dict()
    old.pop("semi")
    assert recipe_hash(old) == PINNED[config_file, protocol][0]
    assert recipe_hash(old, "dec") == PINNED[config_file, protocol][1]


def test_quick_profile_hashes_as_its_explicit_standard_protocol():
    """Runs made as ``quick.yaml`` + ``data.protocol=standard`` match the profile's runs."""
    explicit = load_config("quick.yaml", {"data.protocol": "standard"})
    assert recipe_hash(load_config("quick.yaml")) == recipe_hash(explicit)
    assert recipe_hash(load_config("quick.yaml"), "dec") == recipe_hash(explicit, "dec")


def test_each_run_kind_hashes_the_semi_fields_it_reads():
    base = load_config("quick.yaml")
    mt = load_config("quick.yaml", {"semi.method": "mean_teacher"})
    cmc = load_config("quick.yaml", {"semi.cmc_temperature": 0.2})
    assert recipe_hash(mt) != recipe_hash(base)  # how the classifier trains
    assert recipe_hash(mt, "dec") == recipe_hash(base, "dec")  # DEC reads none of it
    assert recipe_hash(mt, "contrastive") == recipe_hash(base, "contrastive")
    assert recipe_hash(cmc) == recipe_hash(base)  # the classifier does not read cmc_*
    assert recipe_hash(cmc, "contrastive") != recipe_hash(base, "contrastive")
    # a contrastive run reads neither train nor dec
    other = load_config("quick.yaml", {"train.lr": 1e-3, "dec.stage1_epochs": 7})
    assert recipe_hash(other, "contrastive") == recipe_hash(base, "contrastive")
    assert result_overrides({"semi.method": "none", "semi.mt_ema_decay": 0.99}) == {}
    assert result_overrides({"semi.method": "self_training"}) == {"semi.method": "self_training"}
    with pytest.raises(ValueError, match="recipe_hash kind"):
        recipe_hash(base, "semi")


@pytest.mark.parametrize("key, value", [
    ("semi.method", "pseudo"), ("semi.pseudo_min_prob", 0.3), ("semi.pseudo_rounds", 0),
    ("semi.mt_ema_decay", 1.0), ("semi.mt_step_dropout", 1.5), ("semi.cmc_temperature", 0.0),
    ("semi.cmc_batch_size", 1), ("semi.cmc_pretrain_rows", "valid"), ("semi.mt_select", "ema"),
])
def test_bad_option_is_one_line_naming_the_field(key, value):
    with pytest.raises(ValueError) as err:
        load_config("quick.yaml", {key: value})
    msg = str(err.value)
    assert key in msg and "\n" not in msg


def test_bad_arm_name_is_refused_naming_the_choices(tiny_config, tmp_path):
    data = preprocess(make_raw(n=120), tiny_config.data)
    with pytest.raises(ValueError, match="variants \\['pseudo'\\].*self_training"):
        grids.pretrain_ablation(tiny_config, data, seeds=[0], root=tmp_path,
                                      variants=["pseudo"])


# ----------------------------------------------------------------------------- self-training


def test_pseudo_label_selection_by_hand():
    rows = np.array([10, 11, 12, 13, 14])
    logits = np.array([3.0, -3.0, 0.1, -0.2, 2.5])  # p = .953, .047, .525, .450, .924
    sel, targets = select_pseudo_labels(logits, rows, objective="bce", min_prob=0.9,
                                        min_score=1.0)
    assert sel.tolist() == [10, 11, 14] and targets.tolist() == [1.0, -1.0, 1.0]
    sel, _ = select_pseudo_labels(logits, rows, objective="bce", min_prob=0.95, min_score=1.0)
    assert sel.tolist() == [10, 11]  # .953 passes 0.95, .924 does not
    scores = np.array([1.5, -0.5, -2.0, 4.0, 0.99])
    sel, targets = select_pseudo_labels(scores, rows, objective="l1", min_prob=0.9,
                                        min_score=1.0)
    assert sel.tolist() == [10, 12, 13] and targets.tolist() == [1.5, -2.0, 3.0]  # clipped
    none, _ = select_pseudo_labels(scores, rows, objective="l1", min_prob=0.9, min_score=5.0)
    assert none.size == 0


def test_no_validation_test_or_labeled_row_is_ever_a_candidate():
    split = np.array(["train", "train", "train", "valid", "test", "valid", "train"])
    pool = np.array(["labeled", "unlabeled", "unlabeled", "unlabeled", "unlabeled", "labeled",
                     "unlabeled"])
    labeled = np.array([True, False, False, False, False, False, False])
    cand = pseudo_candidates(split, pool, labeled)
    assert cand.tolist() == [1, 2, 6]
    with pytest.raises(ValueError, match="never pseudo-labeled"):
        select_pseudo_labels(np.ones(3) * 5, np.array([1, 3, 4]), objective="l1", min_prob=0.9,
                             min_score=1.0, allowed=cand)


def test_self_training_rounds_label_only_unlabeled_training_rows(tiny_config, data):
    loop.seed_everything(0)
    dd = DeviceData(data, torch.device("cpu"))
    model = models.build_classifier(tiny_config.model, data.dims, data.max_len)
    recipe = TrainConfig(epochs=15, batch_size=32, lr=3e-3, weight_decay=0.0, objective="l1")
    semi = SemiConfig(method="self_training", pseudo_rounds=2, pseudo_min_score=0.5)
    train = data.train_rows("labeled", "has0")
    cand = pseudo_candidates(data.split, data.pool, data.labeled)
    res = fit_self_training(model, dd, recipe, QUIET, semi, train_idx=train, candidates=cand,
                            val_idx=data.rows("valid"))
    assert [r["round"] for r in res["rounds"]] == [0, 1, 2]
    assert res["rounds"][0]["rows"].size == 0
    for r in res["rounds"][1:]:
        assert r["rows"].size > 0  # the fixture's sign is learnable: confident rows exist
        assert (data.split[r["rows"]] == "train").all()
        assert (data.pool[r["rows"]] == "unlabeled").all() and not data.labeled[r["rows"]].any()
    hist = res["history"]
    assert [h["epoch"] for h in hist] == list(range(1, 46))
    for rnd in range(3):  # every round's fit lowers its training loss
        losses_r = [h["train_loss"] for h in hist if h["round"] == rnd]
        assert np.mean(losses_r[-3:]) < np.mean(losses_r[:3])
    with pytest.raises(ValueError, match="candidate is a validation"):
        fit_self_training(model, dd, recipe, QUIET, semi, train_idx=train,
                          candidates=data.rows("valid"), val_idx=data.rows("valid"))


# ----------------------------------------------------------------------------- mean teacher


def test_ema_update_by_hand_on_two_parameters():
    teacher, student = nn.Linear(1, 1), nn.Linear(1, 1)  # a weight and a bias
    with torch.no_grad():
        teacher.weight.fill_(1.0), teacher.bias.fill_(0.0)
        student.weight.fill_(3.0), student.bias.fill_(2.0)
    ema_update(teacher, student, 0.9)
    assert teacher.weight.item() == pytest.approx(0.9 * 1 + 0.1 * 3)  # 1.2
    assert teacher.bias.item() == pytest.approx(0.9 * 0 + 0.1 * 2)  # 0.2
    assert student.weight.item() == 3.0  # the student is not touched
    ema_update(teacher, student, 0.0)
    assert teacher.weight.item() == 3.0 and teacher.bias.item() == 2.0
    assert ema_decay_at(1, 0.99) == pytest.approx(0.5)  # early: the mean of the students
    assert ema_decay_at(9, 0.99) == pytest.approx(0.9)
    assert ema_decay_at(1000, 0.99) == 0.99
    with pytest.raises(ValueError, match="decay"):
        ema_update(teacher, student, 1.5)


def test_consistency_loss_and_rampup_by_hand():
    s, t = torch.tensor([0.0, 2.0]), torch.tensor([0.0, 0.0])
    assert losses.consistency_loss(s, t, objective="l1").item() == pytest.approx(2.0)  # (0+4)/2
    p = 1 / (1 + math.exp(-2))
    assert losses.consistency_loss(s, t, objective="bce").item() == pytest.approx(
        (p - 0.5) ** 2 / 2)
    s.requires_grad_(True)
    t = t.clone().requires_grad_(True)
    losses.consistency_loss(s, t, objective="l1").backward()
    assert t.grad is None  # the teacher is a target
    assert losses.sigmoid_rampup(0, 30) == pytest.approx(math.exp(-5))
    assert losses.sigmoid_rampup(15, 30) == pytest.approx(math.exp(-5 * 0.25))
    assert losses.sigmoid_rampup(45, 30) == 1.0 and losses.sigmoid_rampup(0, 0) == 1.0


def test_perturb_never_empties_a_row():
    torch.manual_seed(0)
    masks = {"text": torch.tensor([[True, True, True, False], [True, False, False, False]]),
             "audio": torch.tensor([[True, False, False, False], [True, False, False, False]])}
    x = {m: torch.zeros(2, 4, 3) for m in masks}
    same_x, same_m = perturb(x, masks, noise_std=0.0, step_dropout=0.0, modality_dropout=0.0)
    assert all(torch.equal(same_m[m], masks[m]) and torch.equal(same_x[m], x[m]) for m in x)
    for _ in range(50):
        nx, nm = perturb(x, masks, noise_std=0.1, step_dropout=0.9, modality_dropout=0.9)
        assert all(not (nm[m] & ~masks[m]).any() for m in masks)  # only ever drops
        assert torch.stack([nm[m].any(1) for m in nm]).any(0).all()  # a modality left per row
        assert nm["audio"].any(1).all() or nm["text"].any(1).all()
        assert nx["text"].std() > 0
    _, nm = perturb(x, masks, noise_std=0.0, step_dropout=0.9, modality_dropout=0.0)
    assert all(nm[m].any(1).all() for m in nm)  # word dropout alone never empties a modality


def test_mean_teacher_lowers_its_training_loss(tiny_config, data):
    loop.seed_everything(0)
    dd = DeviceData(data, torch.device("cpu"))
    model = models.build_classifier(tiny_config.model, data.dims, data.max_len)
    recipe = TrainConfig(epochs=30, batch_size=32, lr=3e-3, weight_decay=0.0, objective="l1")
    semi = SemiConfig(method="mean_teacher", mt_rampup_epochs=5)
    res = fit_mean_teacher(model, dd, recipe, QUIET, semi,
                           train_idx=data.train_rows("labeled", "has0"),
                           extra_idx=data.rows("train"), val_idx=data.rows("valid"))
    hist = res["history"]
    assert {"sup_loss", "consistency", "cons_weight"} <= set(hist[0])
    assert hist[0]["cons_weight"] == pytest.approx(math.exp(-5))
    assert hist[-1]["cons_weight"] == 1.0
    assert np.mean([h["sup_loss"] for h in hist[-3:]]) < 0.8 * np.mean(
        [h["sup_loss"] for h in hist[:3]])
    assert res["best"]["acc"] > 0.6
    with pytest.raises(ValueError, match="validation row"):
        fit_mean_teacher(model, dd, recipe, QUIET, semi, train_idx=data.rows("train"),
                         extra_idx=data.rows("valid"), val_idx=data.rows("valid"))


# ----------------------------------------------------------------------------- contrastive


def test_info_nce_by_hand_on_a_3x3_matrix():
    sim = torch.tensor([[2.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 1.0, 3.0]])
    tau = 0.5
    e = math.exp
    by_hand = -(math.log(e(4) / (e(4) + e(0) + e(2)))
                + math.log(e(2) / (e(0) + e(2) + e(0)))
                + math.log(e(6) / (e(2) + e(2) + e(6)))) / 3
    assert losses.info_nce(sim, tau).item() == pytest.approx(by_hand, rel=1e-6)
    assert losses.info_nce(torch.zeros(3, 3), 0.1).item() == pytest.approx(math.log(3))
    # unit embeddings whose cosine similarities are this matrix's transpose pair (both ways)
    u = torch.eye(3)
    v = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    both = losses.multimodal_info_nce({"text": u, "audio": v}, tau).item()
    one = losses.info_nce(u @ v.T, tau).item()
    assert both == pytest.approx(one)  # symmetric matrix: both directions agree
    w = torch.tensor([[1.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 2.0]])  # not unit: normalised
    wn = w / w.norm(dim=1, keepdim=True)
    mean2 = (losses.info_nce(u @ wn.T, tau) + losses.info_nce(wn @ u.T, tau)).item() / 2
    assert losses.multimodal_info_nce({"text": u, "audio": w}, tau).item() == pytest.approx(mean2)
    with pytest.raises(ValueError, match="two modalities"):
        losses.multimodal_info_nce({"text": u}, tau)


def test_contrastive_pretraining_lowers_its_loss(tiny_config, data):
    loop.seed_everything(0)
    dd = DeviceData(data, torch.device("cpu"))
    semi = SemiConfig(cmc_epochs=25, cmc_lr=3e-3, cmc_batch_size=32, cmc_temperature=0.2)
    model = build_contrastive(tiny_config.model, semi, data.dims, data.max_len)
    rows = usable_rows(data.masks, np.arange(len(data)))
    res = fit_contrastive(model, dd, semi, QUIET, rows=rows, val_rows=data.rows("valid"))
    hist = res["history"]
    assert set(hist[0]) >= {"epoch", "train_loss", "train_top1", "val_loss"}
    assert np.mean([h["train_loss"] for h in hist[-3:]]) < 0.9 * np.mean(
        [h["train_loss"] for h in hist[:3]])


# ----------------------------------------------------------------------------- study wiring


def test_arms_run_as_variants_record_and_are_reused(tiny_config, tmp_path):
    tiny_config.system.seed_workers = 1
    tiny_config.train.epochs = 3
    data = preprocess(make_raw(n=120), tiny_config.data)
    arms = ["none", "self_training", "mean_teacher", "cmc", "cmc_train_rows"]
    got = grids.pretrain_ablation(tiny_config, data, seeds=[0], root=tmp_path,
                                        variants=arms)
    by_tag = {r.metrics()["tag"]: r.metrics() for r in got}
    assert set(by_tag) == {f"pretrain:{a}" for a in arms}
    st = by_tag["pretrain:self_training"]["semi"]
    assert st["method"] == "self_training" and [r["round"] for r in st["rounds"]] == [0, 1]
    assert {"n_pseudo", "n_agree", "agree_share", "n_candidates"} <= set(st["rounds"][1])
    assert st["rounds"][1]["n_agree"] <= st["rounds"][1]["n_pseudo"]
    assert by_tag["pretrain:mean_teacher"]["semi"]["method"] == "mean_teacher"
    assert "semi" not in by_tag["pretrain:none"]
    cmc = by_tag["pretrain:cmc"]
    assert cmc["init"] == "cmc" and cmc["transfer"]["pretrain_kind"] == "contrastive"
    assert cmc["transfer"]["dec_rows"] == "all"
    assert by_tag["pretrain:cmc_train_rows"]["transfer"]["dec_rows"] == "train"
    # same recipe hash as scratch (CMC only initialises it), told apart by init
    assert cmc["recipe"] == by_tag["pretrain:none"]["recipe"]
    pre = runs.find_runs(tmp_path, kind="contrastive")
    assert len(pre) == 2 and {r.metrics()["n_rows"] for r in pre} == {
        len(data), int((data.split == "train").sum())}
    # a second call finds every run: nothing trains again
    again = grids.pretrain_ablation(tiny_config, data, seeds=[0], root=tmp_path,
                                          variants=arms)
    assert [r.run_id for r in again] == [r.run_id for r in got]


def test_contrastive_run_folder_and_reuse(tiny_config, data, tmp_path):
    cfg = variant_cfg(tiny_config, {"semi.cmc_pretrain_rows": "train"})
    run = pretrain_contrastive(cfg, data, root=tmp_path, run_id="cmc", tag="t")
    assert (run.checkpoints / "last.pt").exists() and len(run.history()) == 2
    m = run.metrics()
    assert m["kind"] == "contrastive" and m["pretrain_rows"] == "train"
    assert m["recipe"] == recipe_hash(cfg, "contrastive")
    assert pretrain_contrastive(cfg, data, root=tmp_path, tag="t", reuse=True).run_id == "cmc"
    clf = classifier_runs.train_classifier(tiny_config, data, init_run=run, root=tmp_path)
    assert clf.metrics()["init"] == "cmc"
    # a self-training run cannot resume from a checkpoint: refused, named
    st = copy.deepcopy(tiny_config)
    st.semi.method = "self_training"
    done = classifier_runs.train_classifier(st, data, root=tmp_path, run_id="st")
    with pytest.raises(ValueError, match="semi.method='self_training'.*cannot be resumed"):
        classifier_runs.resume_classifier(done, data)
