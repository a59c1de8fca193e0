"""Tests for the config: defaults, overrides, validation, save/load and the recipe hash."""

import pytest

from mosi_lib.config import (
    Config,
    apply_overrides,
    config_from_dict,
    config_hash,
    load_config,
    save_config,
    smoke,
    validate,
)


def test_defaults_are_the_papers_recipe():
    cfg = Config()
    assert (cfg.train.lr, cfg.train.weight_decay, cfg.train.batch_size, cfg.train.epochs) == (
        4e-5, 1e-2, 128, 500)
    assert (cfg.dec.stage1_epochs, cfg.dec.stage1_lr, cfg.dec.stage1_recon_weight,
            cfg.dec.stage1_disent_weight) == (200, 5e-4, 1.0, 0.001)
    assert (cfg.dec.stage2_epochs, cfg.dec.stage2_lr, cfg.dec.stage2_recon_weight,
            cfg.dec.stage2_sup_weight, cfg.dec.stage2_disent_weight) == (100, 1e-4, 0.1, 0.5, 0.0)
    assert (cfg.data.max_len, cfg.data.labeled_fraction, cfg.data.val_fraction) == (30, 0.4, 0.2)
    assert (cfg.model.n_layers, cfg.model.n_heads, cfg.model.ff_dim) == (2, 4, 256)


def test_save_then_load_roundtrip(tmp_path):
    cfg = load_config(overrides={"train.epochs": 7, "data.source": "synthetic",
                                 "data.modalities": ["visual", "text"]})
    save_config(cfg, tmp_path / "c.yaml")
    import yaml

    back = config_from_dict(yaml.safe_load((tmp_path / "c.yaml").read_text()))
    assert back == cfg
    assert back.data.modalities == ["text", "visual"]  # canonical order
    assert config_hash(back) == config_hash(cfg)


def test_yaml_file_overrides_and_name(tmp_path):
    f = tmp_path / "myexp.yaml"
    f.write_text("train.lr: 0.001\ndec:\n  n_clusters: 3\n")
    cfg = load_config(f, {"train.lr": 2e-3})
    assert cfg.name == "myexp" and cfg.train.lr == 2e-3 and cfg.dec.n_clusters == 3


def test_default_source_is_the_embedded_real_data():
    cfg = load_config()
    assert (cfg.data.source, cfg.data.modalities, cfg.data.data_dir) == (
        "mosi_text_audio", ["text", "audio"], None)


def test_float_written_without_dot_in_yaml():
    # YAML 1.1 reads 4e-5 as the string "4e-5"; --set train.lr=4e-5 must still work
    import yaml

    assert load_config(overrides={"train.lr": yaml.safe_load("4e-5")}).train.lr == 4e-5
    with pytest.raises(TypeError, match="train.lr: expected float, got str 'fast'"):
        load_config(overrides={"train.lr": "fast"})


def test_profiles_in_configs_load():
    assert load_config("quick.yaml").train.epochs < Config().train.epochs
    assert load_config("paper.yaml").train.epochs == 500


@pytest.mark.parametrize("key", ["train.lrr", "nosection.x", "train.lr.x"])
def test_unknown_keys_raise(key):
    with pytest.raises(KeyError, match="unknown config"):
        apply_overrides(Config(), {key: 1})


@pytest.mark.parametrize(
    "key,value", [("train.epochs", 1.5), ("train.epochs", "10"), ("system.amp", 1),
                  ("data.modalities", "text"), ("train.lr", "fast")])
def test_type_changes_raise(key, value):
    with pytest.raises(TypeError, match=key.split(".")[-1]):
        apply_overrides(Config(), {key: value})


def test_int_widens_to_float():
    assert apply_overrides(Config(), {"train.lr": 1}).train.lr == 1.0


def test_a_layer_index_given_as_an_int_is_read_as_its_string(tmp_path):
    """``--set data.text_layer=3`` and ``text_layer: 3`` in YAML: an index, as docs allow."""
    assert load_config(overrides={"data.text_layer": 3}).data.text_layer == "3"
    (tmp_path / "c.yaml").write_text("data:\n  text_layer: 2\n")
    assert load_config(tmp_path / "c.yaml").data.text_layer == "2"
    with pytest.raises(ValueError, match="data.text_layer='-1'"):
        load_config(overrides={"data.text_layer": -1})


@pytest.mark.parametrize(
    "key,value,match",
    [("data.zero_policy", "drop", "zero_policy"), ("data.protocol", "random", "protocol"),
     ("data.modalities", ["text", "smell"], "modalities"), ("data.labeled_fraction", 0.0,
     "labeled_fraction"), ("model.d_model", 30, "divisible"), ("data.source", "csd", "data_dir"),
     ("system.compile_mode", "fast", "system.compile_mode='fast': expected one of")])
def test_invalid_options_raise(key, value, match):
    with pytest.raises(ValueError, match=match):
        load_config(overrides={key: value})


def test_missing_config_file_raises():
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        load_config("nope.yaml")


def test_smoke_shrinks_epochs_only():
    cfg = smoke(Config())
    assert cfg.train.epochs <= 2 and cfg.dec.stage1_epochs <= 2 and cfg.dec.stage2_epochs <= 2
    assert cfg.train.lr == Config().train.lr and cfg.model == Config().model


@pytest.mark.parametrize(
    "key,value,message",
    [("train.epochs", 0, "train.epochs=0: need >= 1"),
     ("train.batch_size", 0, "train.batch_size=0: need >= 2"),
     ("train.batch_size", 1, "train.batch_size=1: need >= 2"),
     ("dec.batch_size", 0, "dec.batch_size=0: need >= 2"),
     ("train.lr", 0.0, "train.lr=0.0: need > 0"),
     ("train.lr", float("nan"), "train.lr=nan: need > 0"),
     ("dec.stage1_lr", -1e-4, "dec.stage1_lr=-0.0001: need > 0"),
     ("train.weight_decay", -0.01, "train.weight_decay=-0.01: need >= 0"),
     ("dec.stage1_epochs", 0, "dec.stage1_epochs=0: need >= 1"),
     ("dec.stage2_epochs", -1, "dec.stage2_epochs=-1: need >= 0"),
     ("dec.update_interval", 0, "dec.update_interval=0: need >= 1"),
     ("dec.tol", 1.0, r"dec.tol=1.0: need a value in \[0, 1\)"),
     ("dec.kmeans_n_init", 0, "dec.kmeans_n_init=0: need >= 1"),
     ("model.dropout", 1.0, r"model.dropout=1.0: need a value in \[0, 1\)"),
     ("model.enc_dropout", -0.1, "model.enc_dropout=-0.1"),
     ("model.n_heads", 0, "model.n_heads=0: need >= 1"),  # was ZeroDivisionError
     ("model.head_dims", [8, 0], r"model.head_dims=\[8, 0\]: need >= 1"),
     ("system.seed", -1, r"system.seed=-1: need a value in \[0, 4294967295\]"),
     ("system.seed", 2**32, "system.seed=4294967296"),
     ("data.split_seed", -1, "data.split_seed=-1: need >= 0"),
     ("data.synthetic_seed", -1, "data.synthetic_seed=-1: need >= 0"),
     ("data.max_len", 0, "data.max_len=0: need >= 1"),
     ("data.max_drop_fraction", 1.5, r"data.max_drop_fraction=1.5: need a value in \[0, 1\]"),
     ("system.device", "gpu", "system.device='gpu': expected auto, cpu, cuda, cuda:N or mps"),
     ("system.device", "cuda:x", "system.device='cuda:x'")])
def test_out_of_range_values_raise_naming_the_field(key, value, message):
    with pytest.raises(ValueError, match=message):
        load_config(overrides={key: value})


def test_boundary_values_are_valid():
    cfg = load_config(overrides={
        "dec.stage2_epochs": 0,  # autoencoder + k-means centres only: fit_dec and plots allow it
        "model.dropout": 0.0, "model.enc_dropout": 0.0, "dec.tol": 0.0,
        "train.weight_decay": 0.0, "train.batch_size": 2, "system.seed": 0,
        "system.device": "cuda:1", "data.max_drop_fraction": 1.0, "report.tsne_seed": None})
    assert cfg.dec.stage2_epochs == 0 and cfg.system.device == "cuda:1"
    for device in ("auto", "cpu", "cuda", "mps"):
        assert load_config(overrides={"system.device": device}).system.device == device


def test_unknown_override_key_is_named_by_load_config():
    with pytest.raises(KeyError, match="unknown config key 'train.foo'"):
        load_config(overrides={"train.foo": 1})


@pytest.mark.parametrize("profile", [None, "quick.yaml", "paper.yaml"])
def test_smoke_keeps_configs_valid(profile):
    cfg = smoke(load_config(profile))
    assert validate(cfg) is cfg and cfg.train.epochs >= 1 and cfg.dec.stage1_epochs >= 1


def test_recipe_hash_ignores_how_a_run_trains_not_what():
    from mosi_lib.runs import recipe_hash

    base = Config()
    how = Config()
    how.system.checkpoint_every_s, how.system.compile_mode = 0.0, "reduce-overhead"
    assert recipe_hash(how) == recipe_hash(base)
    older = base.to_dict()  # a run recorded before these two fields existed
    del older["system"]["checkpoint_every_s"], older["system"]["compile_mode"]
    assert recipe_hash(older) == recipe_hash(base)
    what = Config()
    what.system.compile = True
    assert recipe_hash(what) != recipe_hash(base)


def test_each_seed_draws_its_own_labeled_pool_unless_fixed():
    from mosi_lib.runs import recipe_hash

    a, b = (load_config(overrides={"system.seed": s}) for s in (3, 4))
    assert (a.data.draw, a.data.split_seed, b.data.split_seed) == ("seed", 3, 4)
    assert recipe_hash(a) == recipe_hash(b)  # seeds of one recipe: the draw is the seed's
    fixed = load_config(overrides={"system.seed": 3, "data.draw": "fixed",
                                   "data.split_seed": 7})
    assert fixed.data.split_seed == 7
    other = load_config(overrides={"system.seed": 3, "data.draw": "fixed", "data.split_seed": 8})
    assert recipe_hash(fixed) != recipe_hash(other)  # a fixed draw is part of the recipe
    old = a.to_dict()  # written before data.draw: its split_seed stays as recorded
    del old["data"]["draw"]
    old["data"]["split_seed"] = 0
    back = config_from_dict(old)
    assert (back.data.draw, back.data.split_seed, back.system.seed) == ("fixed", 0, 3)
    retired = a.to_dict()  # written while system.seeds_together existed: read without it
    retired["system"]["seeds_together"] = "auto"
    assert config_from_dict(retired) == a and recipe_hash(retired) == recipe_hash(a)
    with pytest.raises(KeyError, match="seeds_together"):
        load_config(overrides={"system.seeds_together": "always"})


def test_dec_start_remedy_options():
    assert (Config().dec.degenerate_remedy, Config().dec.min_cluster_share) == ("clipped", 0.1)
    with pytest.raises(ValueError, match=r"config dec.degenerate_remedy=.restart.: expected one"):
        load_config(overrides={"dec.degenerate_remedy": "restart"})
    assert load_config(overrides={"dec.n_clusters": 3}).dec.n_clusters == 3  # remedy kept off
