"""`trainwise predict`, `trainwise export` and `trainwise.load` on real run folders and real files.

One run folder is fitted by the CLI, in process, on the built-in transactions table (2 epochs, threshold
recall=0.8) and shared by the module; the tests predict copies of that table, changed as each needs.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.metrics import confusion_matrix

import trainwise as tw
from trainwise.cli import main
from trainwise.data import TRANSACTIONS_TARGET, TablePreprocessor, load_transactions, prepare_tabular
from trainwise.errors import InputError
from trainwise.models import mlp
from trainwise.runfolder import write_run
from trainwise.tabular import fit_table

TARGET = TRANSACTIONS_TARGET


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def table():
    return load_transactions()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, table):
    folder = tmp_path_factory.mktemp("predict")
    data = folder / "transactions.csv"
    table.to_csv(data, index=False)
    code = main(["fit", str(data), "--target", TARGET, "--epochs", "2", "--threshold", "recall=0.8", "--out",
                 str(folder / "run"), "--quiet"])
    assert code == 0
    return folder / "run"


@pytest.fixture(scope="module")
def model(run_dir):
    return tw.load(run_dir)


@pytest.fixture()
def new_rows(table):
    """500 rows of the table, as new data would come: with its target, in a shuffled order."""
    return table.sample(500, random_state=3).reset_index(drop=True)


# ---- the library -----------------------------------------------------------------------------------
def test_load_gives_the_runs_threshold_labels_and_network(run_dir, model):
    summary = json.loads((run_dir / "summary.json").read_text())
    assert model.threshold == summary["thresholds"]["applied"]["threshold"] != 0.5
    assert model.labels == ["0", "1"] and model.positive == "1" and model.target == TARGET
    assert isinstance(model.module, torch.nn.Sequential) and not model.module.training
    assert model.feature_columns == [c for c in load_transactions().columns if c != TARGET]


def test_predictions_equal_the_hand_written_twelve_lines(run_dir, model, new_rows):
    from safetensors.torch import load_file

    config = json.loads((run_dir / "config.json").read_text())
    pre = TablePreprocessor.from_dict(config["preprocessor"])
    net = mlp(len(pre.feature_names), 2, hidden=config["hidden"], dropout=config["dropout"])
    net.load_state_dict(load_file(str(run_dir / "model.safetensors")))
    with torch.inference_mode():
        logits = net.eval()(torch.from_numpy(pre.transform(new_rows)))
    expected = torch.sigmoid(logits[:, 1] - logits[:, 0]).numpy()
    np.testing.assert_allclose(model.predict_proba(new_rows), expected, rtol=0, atol=1e-7)
    assert (model.predict(new_rows) == (expected >= model.threshold).astype(np.int64)).all()
    assert model.predict(new_rows).dtype == np.int64                  # 0/1 labels come back as numbers
    raw = new_rows.drop(columns=[TARGET]).to_numpy(dtype=object)       # an array in training column order
    np.testing.assert_allclose(model.predict_proba(raw), expected, rtol=0, atol=1e-7)


def test_held_out_verdict_comes_from_the_same_engine(model, new_rows):
    result = model.predictions(new_rows)
    metrics = result.metrics
    truth = new_rows[TARGET].to_numpy()
    assert metrics["confusion_matrix"] == confusion_matrix(truth, result.predicted, labels=[0, 1]).tolist()
    assert metrics["num_samples"] == 500 and metrics["positive_label"] == "1" and metrics["loss"] > 0
    assert result.summary["thresholds"]["applied"]["threshold"] == model.threshold
    assert result.verdict in ("good", "warning", "bad") and result.summary["held_out"]
    unlabelled = model.predictions(new_rows.drop(columns=[TARGET]))
    assert unlabelled.metrics is None and not unlabelled.summary["held_out"]
    np.testing.assert_array_equal(unlabelled.proba, result.proba)


def test_threshold_override_a_number_or_a_recorded_rule(run_dir, model, new_rows):
    summary = json.loads((run_dir / "summary.json").read_text())
    scores = model.predict_proba(new_rows)
    assert (model.predict(new_rows, threshold=0.9) == (scores >= 0.9)).all()
    best = summary["thresholds"]["best_f1"]["threshold"]
    assert (model.predict(new_rows, threshold="best_f1") == (scores >= best)).all()
    with pytest.raises(InputError, match="did not record.*recall=0.8"):
        model.predict(new_rows, threshold="recall=0.95")


def test_unseen_categories_are_counted_never_silently_zeroed(model, new_rows):
    changed = new_rows.copy()
    changed.loc[:9, "country"] = "Atlantis"
    changed.loc[10:11, "merchant_category"] = "crypto"
    result = model.predictions(changed)
    country = result.check["categorical"]["country"]
    assert country["unseen"] == 10 and country["examples"] == {"Atlantis": 10}
    finding = next(f for f in result.findings if f["code"] == "unseen_categories")
    assert finding["severity"] == "warning" and "country (10 rows, 2.0%" in finding["message"]
    assert set(finding["evidence"]["columns"]) == {"country", "merchant_category"}
    assert not any(f["code"] == "unseen_categories" for f in model.predictions(new_rows).findings)


def test_drift_names_the_shifted_columns(model, table, new_rows):
    pre = model.preprocessor.columns
    hour = next(c for c in pre if c.name == "hour")
    amount = next(c for c in pre if c.name == "amount")
    assert table["amount"].min() <= amount.minimum < amount.maximum <= table["amount"].max()   # training rows'
    shifted = new_rows.assign(hour=new_rows["hour"] + 3 * hour.std, amount=new_rows["amount"] * 1000)
    result = model.predictions(shifted)
    finding = next(f for f in result.findings if f["code"] == "feature_drift")
    assert set(finding["evidence"]["columns"]) == {"hour", "amount"}
    assert result.check["numeric"]["hour"]["shift_std"] == pytest.approx(
        3 + (new_rows["hour"].mean() - hour.mean) / hour.std)
    assert result.check["numeric"]["amount"]["outside_share"] > 0.5
    assert "hour" in finding["message"] and "amount" in finding["message"]
    assert not any(f["code"] == "feature_drift" for f in model.predictions(new_rows).findings)


def test_old_run_folder_without_ranges_loads_and_says_what_it_cannot_measure(run_dir, tmp_path, new_rows):
    old = tmp_path / "old"
    shutil.copytree(run_dir, old)
    config = json.loads((old / "config.json").read_text())
    for column in config["preprocessor"]["columns"]:
        for key in ("minimum", "maximum", "other_share"):
            column.pop(key, None)
    (old / "config.json").write_text(json.dumps(config))
    result = tw.load(old).predictions(new_rows.assign(amount=new_rows["amount"] * 1000))
    assert result.check["numeric"]["amount"]["outside_share"] is None
    assert "cannot be measured" in result.check["notes"][0]
    assert any(f["code"] == "feature_drift" for f in result.findings)          # the mean shift still is


def test_missing_columns_named_extra_columns_listed(model, new_rows):
    with pytest.raises(InputError, match="missing columns of the training table: hour, country"):
        model.predict(new_rows.drop(columns=["hour", "country"]))
    result = model.predictions(new_rows.assign(customer_id=range(500)))
    assert result.check["columns"]["ignored"] == ["customer_id"]


def test_python_api_run_loads_with_the_network(tmp_path):
    X, y = load_breast_cancer(return_X_y=True)
    X = ((X - X.mean(0)) / X.std(0)).astype(np.float32)
    torch.manual_seed(0)
    net = mlp(30, 2)
    folder = tmp_path / "api-run"
    tw.Trainer(epochs=2, threshold=0.3, checkpoint_dir=str(folder)).fit(net, (X[:400], y[:400]), (X[400:], y[400:]))
    with pytest.raises(InputError, match=r"pass the network: trainwise.load\(RUN, model=net\)"):
        tw.load(folder)
    torch.manual_seed(1)
    loaded = tw.load(folder, model=mlp(30, 2))
    assert loaded.threshold == 0.3 and loaded.preprocessor is None
    with torch.inference_mode():
        logits = net.eval()(torch.from_numpy(X[400:]))
    expected = torch.sigmoid(logits[:, 1] - logits[:, 0]).numpy()
    np.testing.assert_allclose(loaded.predict_proba(X[400:]), expected, atol=1e-7)
    result = loaded.predictions(X[400:], y=y[400:])
    assert loaded.labels == ["0", "1"] and result.metrics["num_samples"] == len(y) - 400
    assert (result.predicted == (expected >= 0.3)).all()


# ---- the command ------------------------------------------------------------------------------------
def test_predict_writes_rows_with_prediction_and_score(run_dir, model, new_rows, tmp_path, capsys):
    data = tmp_path / "new.csv"
    new_rows.to_csv(data, index=False)
    for name in ("preds.csv", "preds.csv.gz", "preds.parquet"):
        code, out, err = run_cli(capsys, "predict", run_dir, data, "--out", tmp_path / name)
        assert code == 0, err
        got = pd.read_parquet(tmp_path / name) if name.endswith("parquet") else pd.read_csv(tmp_path / name)
        assert list(got.columns) == [*new_rows.columns, "prediction", "score"]
        pd.testing.assert_frame_equal(got[new_rows.columns], new_rows, check_dtype=False)
        np.testing.assert_allclose(got["score"], model.predict_proba(new_rows), atol=1e-6)
        assert (got["prediction"] == (got["score"] >= model.threshold)).all()
    assert "Held-out metrics" in out and "Verdict" in out and "recall=0.8" in out
    code, out, err = run_cli(capsys, "predict", run_dir, data)                # CSV on stdout
    assert code == 0 and pd.read_csv(__import__("io").StringIO(out)).shape == (500, len(new_rows.columns) + 2)
    assert "Predicted 500 rows" in err


def test_predict_json_exit_codes_and_checks(run_dir, new_rows, tmp_path, capsys):
    data = tmp_path / "new.csv"
    new_rows.assign(country=np.where(np.arange(500) < 25, "Atlantis", new_rows["country"])).to_csv(data, index=False)
    code, out, err = run_cli(capsys, "predict", run_dir, data, "--json", "--fail-on", "warning")
    summary = json.loads(out)
    assert summary["output"] is None and summary["rows"] == 500 and not (tmp_path / "preds.csv").exists()
    assert summary["data_check"]["categorical"]["country"]["unseen"] == 25
    assert {"verdict", "findings", "metrics", "thresholds", "threshold", "data_check"} <= summary.keys()
    assert code == 1 and summary["verdict"] != "good"
    code, out, _ = run_cli(capsys, "predict", run_dir, data, "--json", "--out", tmp_path / "p.csv")
    assert code == 0 and json.loads(out)["output"] == str(tmp_path / "p.csv")


def test_streamed_parquet_equals_in_memory_order_kept(run_dir, model, table, tmp_path, capsys, monkeypatch):
    from trainwise.serve import sources

    shuffled = table.sample(frac=1.0, random_state=7).reset_index(drop=True).drop(columns=[TARGET])
    path = tmp_path / "new.parquet"
    shuffled.to_parquet(path, row_group_size=3000)
    monkeypatch.setattr(sources, "CHUNK_ROWS", 2500)
    chunks = [len(c.classes) for c in model.start(path)]
    assert len(chunks) > 4 and max(chunks) <= 3000 and sum(chunks) == len(table)
    code, _, err = run_cli(capsys, "predict", run_dir, path, "--out", tmp_path / "out.parquet", "--quiet")
    assert code == 0, err
    got = pd.read_parquet(tmp_path / "out.parquet")
    pd.testing.assert_frame_equal(got[shuffled.columns], shuffled)
    np.testing.assert_allclose(got["score"], model.predict_proba(shuffled), atol=1e-7)


def test_multiclass_gives_one_probability_per_class(tmp_path, capsys):
    frame = load_wine(as_frame=True).frame.rename(columns={"target": "cultivar"})
    frame["cultivar"] = frame["cultivar"].map({0: "barolo", 1: "grignolino", 2: "barbera"})
    data = prepare_tabular(frame, "cultivar", seed=0)
    folder = tmp_path / "wine"
    run = fit_table(data, tw.TrainConfig(epochs=3, checkpoint_dir=str(folder)))
    write_run(folder, run, report=False, settings={"target": "cultivar", "hidden": [64, 32], "dropout": 0.1,
                                                   "preprocessor": data.preprocessor.to_dict()})
    path = tmp_path / "wine.csv"
    frame.to_csv(path, index=False)
    code, _, err = run_cli(capsys, "predict", folder, path, "--out", tmp_path / "p.csv", "--quiet")
    assert code == 0, err
    got = pd.read_csv(tmp_path / "p.csv")
    proba = got[[f"proba_{label}" for label in data.labels]].to_numpy()
    np.testing.assert_allclose(proba.sum(axis=1), 1, atol=1e-5)
    assert (got["prediction"] == np.array(data.labels)[proba.argmax(axis=1)]).all()
    code, _, err = run_cli(capsys, "predict", folder, path, "--threshold", "0.3")
    assert code == 2 and "binary tasks" in err


@pytest.mark.parametrize("case", ["no folder", "a file", "no model", "a comparison", "other labels", "empty", "nan", "text",
                                  "missing", "clash", "bad suffix", "input file", "unrecorded rule"])
def test_bad_input_is_one_line_exit_2_nothing_written(case, run_dir, new_rows, tmp_path, capsys):
    run, data, out = run_dir, tmp_path / "new.csv", tmp_path / "preds.csv"
    rows, expected = new_rows, None
    if case == "no folder":
        run, expected = tmp_path / "nowhere", "no such folder"
    elif case == "a file":
        run, expected = run_dir / "summary.json", "a file, not a folder"
    elif case == "no model":
        run = tmp_path / "unfinished"
        shutil.copytree(run_dir, run)
        (run / "model.safetensors").unlink()
        expected = "holds no model"
    elif case == "a comparison":                  # compare --out: one run folder per optimizer inside
        run = tmp_path / "comparison"
        shutil.copytree(run_dir, run / "adam")
        (run / "comparison.json").write_text("{}")
        expected = "holds a comparison of runs (adam); pass one of them"
    elif case == "other labels":
        rows, expected = new_rows.assign(is_fraud="maybe"), "labels the training table lacks"
    elif case == "empty":
        rows, expected = new_rows.iloc[:0], "empty"
    elif case == "nan":
        rows = new_rows.copy()
        rows.loc[4, "amount"] = np.nan
        expected = "column 'amount' is empty in row 5"
    elif case == "missing":
        rows, expected = new_rows.drop(columns=["amount"]), "missing columns of the training table: amount"
    elif case == "clash":
        rows, expected = new_rows.assign(score=1.0), "already has columns score"
    elif case == "text":
        rows = new_rows.astype({"hour": object})
        rows.loc[2, "hour"] = "noon"
        expected = "column 'hour' should hold numbers but has text in 1 rows (e.g. 'noon' in row 3)"
    elif case == "bad suffix":
        out, expected = tmp_path / "preds.xlsx", "unsupported output type"
    elif case == "input file":
        out, expected = data, "is the input file"
    options = ["--threshold", "recall=0.95"] if case == "unrecorded rule" else []
    expected = expected or "the run did not record that threshold"
    rows.to_csv(data, index=False)
    before = data.read_bytes()
    code, stdout, err = run_cli(capsys, "predict", run, data, "--out", out, *options)
    assert code == 2 and expected in err and len(err.strip().splitlines()) == 1, err
    assert (not out.exists() or data.read_bytes() == before) and stdout == ""
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []     # no temp file left


def test_a_bad_row_late_in_a_stream_leaves_no_file(run_dir, table, tmp_path, capsys, monkeypatch):
    from trainwise.serve import sources

    rows = table.drop(columns=[TARGET]).copy()
    rows.loc[len(rows) - 3, "hour"] = np.nan                 # in the last record batch
    rows.to_parquet(tmp_path / "new.parquet", row_group_size=4000)
    monkeypatch.setattr(sources, "CHUNK_ROWS", 4000)
    code, _, err = run_cli(capsys, "predict", run_dir, tmp_path / "new.parquet", "--out", tmp_path / "p.parquet")
    assert code == 2 and "column 'hour' is empty in row 19998" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.parquet"]


# ---- ONNX ------------------------------------------------------------------------------------------------
def test_onnx_export_matches_predict_proba(run_dir, model, table, tmp_path, capsys):
    import onnx
    import onnxruntime as ort
    path = tmp_path / "model.onnx"
    code, out, err = run_cli(capsys, "export", run_dir, "--onnx", path)
    assert code == 0, err
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    pre = TablePreprocessor.from_dict(json.loads(meta["trainwise.preprocessor"]))   # preprocessing from the file
    logits, proba = session.run(None, {"features": pre.transform(table)})
    np.testing.assert_allclose(proba, model.predict_proba(table), rtol=0, atol=1e-5)
    assert logits.shape == (len(table), 2) and float(meta["trainwise.threshold"]) == model.threshold
    assert json.loads(meta["trainwise.labels"]) == ["0", "1"] and meta["trainwise.positive_label"] == "1"


# ---- the demo's last lines ---------------------------------------------------------------------------
def test_demo_scoring_story_scores_held_out_transactions(table):
    from trainwise.serve.demo import scoring_story

    data = prepare_tabular(table, TARGET, seed=0)
    run = fit_table(data, tw.TrainConfig(epochs=1))
    text = scoring_story(run, data, table)
    assert text.startswith("Scoring 6 transactions the model never trained on")
    assert text.count("(it is class 1)") == 3 and "trainwise predict RUN new.csv" in text


# ---- what the preprocessor records for the checks -------------------------------------------------------
def test_preprocessor_records_ranges_and_the_capped_share():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=600), "tag": [f"t{i % 60}" for i in range(600)]})
    pre = TablePreprocessor().fit(frame)
    x, tag = pre.columns
    assert (x.minimum, x.maximum) == (frame["x"].min(), frame["x"].max())
    assert tag.other_share == pytest.approx(100 / 600)          # 10 of 60 levels (10 rows each) capped away
    restored = TablePreprocessor.from_dict(json.loads(json.dumps(pre.to_dict())))
    assert restored.columns == pre.columns
