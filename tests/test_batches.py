"""Batches and outputs the Trainer takes (PRODUCT.md), with real shapes: the text tutorial's EmbeddingBag with
offsets, a tiny Hugging Face model built from a config with its dict batches, a CNN on an image Dataset, tuple
and dict outputs, sample weights, the loss_fn contract."""

from __future__ import annotations

from collections import namedtuple

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

import trainwise as tw
from trainwise.batching import split_batch, to_device
from trainwise.errors import InputError


# ---------------------------------------------------------------------------------------------- text: EmbeddingBag
class Texts(Dataset):
    """Variable-length token lists whose first half hints at the class, as (label, tokens) like torchtext's AG_NEWS."""

    def __init__(self, n=240, vocab=40, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.rows = []
        for _ in range(n):
            label = int(torch.randint(0, 3, (1,), generator=g))
            length = int(torch.randint(3, 12, (1,), generator=g))
            tokens = torch.randint(0, vocab, (length,), generator=g)
            tokens[: length // 2] = label * 10 + torch.randint(0, 10, (length // 2,), generator=g)
            self.rows.append((label, tokens))

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        return self.rows[i]


def collate_batch(batch):
    """The PyTorch text classification tutorial's collate_fn, as written there."""
    label_list, text_list, offsets = [], [], [0]
    for label, text in batch:
        label_list.append(label)
        text_list.append(text)
        offsets.append(text.size(0))
    return torch.cat(text_list), torch.tensor(offsets[:-1]).cumsum(dim=0), torch.tensor(label_list)


class TextClassificationModel(nn.Module):
    def __init__(self, vocab_size=40, embed_dim=16, num_class=3):
        super().__init__()
        torch.manual_seed(0)
        self.embedding = nn.EmbeddingBag(vocab_size, embed_dim)
        self.fc = nn.Linear(embed_dim, num_class)

    def forward(self, text, offsets):
        return self.fc(self.embedding(text, offsets))


def test_the_text_tutorials_collate_is_refused_in_one_line_that_says_how_to_pass_it():
    with pytest.raises(InputError) as info:
        tw.Trainer(epochs=1, collate_fn=collate_batch).fit(TextClassificationModel(), Texts())
    message = str(info.value)
    assert "\n" not in message and "(inputs, targets, sample_weight)" in message and "int64" in message
    assert "((text, offsets), labels)" in message and "batch=lambda b: ((b[0], b[1]), b[2])" in message


def test_embeddingbag_with_offsets_trains_through_the_batch_hook_and_through_a_nested_collate():
    hooked = tw.Trainer(epochs=4, lr=0.05, batch_size=16, seed=0, collate_fn=collate_batch,
                        batch=lambda b: ((b[0], b[1]), b[2])).fit(TextClassificationModel(), Texts(), Texts(seed=1))

    def nested(batch):
        text, offsets, labels = collate_batch(batch)
        return (text, offsets), labels

    plain = tw.Trainer(epochs=4, lr=0.05, batch_size=16, seed=0, collate_fn=nested).fit(
        TextClassificationModel(), Texts(), Texts(seed=1))
    assert hooked.metrics == plain.metrics                  # the same batches, the same order
    assert hooked.metrics["accuracy"] > 0.75
    assert hooked.history[0]["train_loss"] > hooked.history[-1]["train_loss"]


def test_a_dict_batch_with_labels_is_passed_as_keyword_inputs():
    def as_dict(batch):
        text, offsets, labels = collate_batch(batch)
        return {"text": text, "offsets": offsets, "labels": labels}

    train = DataLoader(Texts(), batch_size=16, collate_fn=as_dict)
    run = tw.Trainer(epochs=2, lr=0.05).fit(TextClassificationModel(), train, DataLoader(Texts(seed=1), 64,
                                                                                          collate_fn=as_dict))
    assert run.metrics["num_samples"] == 240 and run.data["task"] == "multiclass"


# ---------------------------------------------------------------------------------------------- Hugging Face
def test_a_tiny_transformers_model_with_dict_batches_and_sequence_classifier_output():
    import transformers
    config = transformers.BertConfig(vocab_size=30, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=32, max_position_embeddings=16, num_labels=2)
    torch.manual_seed(0)
    model = transformers.BertForSequenceClassification(config)
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 2, (160,), generator=g)
    ids = torch.randint(3, 30, (160, 8), generator=g)
    ids[:, 1] = labels + 1                                  # the token that gives the class away
    mask = torch.ones(160, 8, dtype=torch.long)
    mask[::3, 6:] = 0
    rows = [{"input_ids": ids[i], "attention_mask": mask[i], "labels": labels[i]} for i in range(160)]
    out = model(input_ids=ids[:2], attention_mask=mask[:2])
    assert type(out).__name__ == "SequenceClassifierOutput"
    run = tw.Trainer(epochs=4, lr=1e-2, batch_size=16, seed=0).fit(model, ListData(rows[:120]), ListData(rows[120:]))
    assert run.data["task"] == "binary" and run.data["outputs"] == "logits"
    assert run.metrics["num_samples"] == 40
    assert run.history[-1]["val_loss"] < run.history[0]["val_loss"] and run.metrics["accuracy"] > 0.7
    assert run.thresholds["best_f1"] is not None


class ListData(Dataset):
    def __init__(self, rows):
        self.rows = rows

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        return self.rows[i]


# ---------------------------------------------------------------------------------------------- images: a CNN
class Images(Dataset):
    """8x8 one-channel images: class 1 has a bright square in a corner. ``y_shape`` [1] as some Datasets give."""

    def __init__(self, n=200, seed=0, column=False):
        g = torch.Generator().manual_seed(seed)
        self.x = torch.rand(n, 1, 8, 8, generator=g) * 0.5
        self.y = torch.randint(0, 2, (n,), generator=g)
        self.x[self.y == 1, :, :3, :3] += 1.0
        self.column = column

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.x[i], self.y[i:i + 1] if self.column else int(self.y[i])


def cnn():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 2))


def test_a_cnn_on_an_image_dataset_and_targets_of_shape_1_read_as_one_label_per_row():
    run = tw.Trainer(epochs=3, lr=1e-2, batch_size=32, num_workers=0).fit(cnn(), Images(), Images(seed=1))
    column = tw.Trainer(epochs=3, lr=1e-2, batch_size=32).fit(cnn(), Images(column=True), Images(seed=1, column=True))
    assert run.metrics == column.metrics
    assert run.metrics["accuracy"] > 0.9


# ---------------------------------------------------------------------------------------------- outputs
def blobs(n=300, d=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    return torch.randn(2, d, generator=g)[y] * 1.5 + torch.randn(n, d, generator=g), y


class Wrapped(nn.Module):
    """The same network, returning its logits inside a tuple, a dict or an object with `.logits`."""

    Output = namedtuple("Output", ["logits", "hidden"])

    def __init__(self, how):
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 2))
        self.how = how

    def forward(self, x):
        logits = self.net(x)
        if self.how == "tuple":
            return logits, x
        if self.how == "dict":
            return {"hidden": x, "logits": logits}
        if self.how == "one-tensor dict":
            return {"scores": logits}
        if self.how == "object":
            return type("Out", (), {"logits": logits, "loss": None})()
        return logits


@pytest.mark.parametrize("how", ["tuple", "dict", "one-tensor dict", "object"])
def test_tuple_dict_and_logits_outputs_give_the_tensors_run(how):
    X, y = blobs()
    settings = {"epochs": 2, "batch_size": 32, "seed": 0}
    plain = tw.Trainer(**settings).fit(Wrapped("tensor"), (X[:200], y[:200]), (X[200:], y[200:]))
    wrapped = tw.Trainer(**settings).fit(Wrapped(how), (X[:200], y[:200]), (X[200:], y[200:]))
    assert wrapped.metrics == plain.metrics


def test_a_dict_output_without_logits_and_several_tensors_is_bad_input():
    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(6, 2)

        def forward(self, x):
            return {"a": self.fc(x), "b": x}

    X, y = blobs()
    with pytest.raises(InputError, match="keys a, b and no 'logits'"):
        tw.Trainer(epochs=1).fit(Two(), (X, y))


# ---------------------------------------------------------------------------------------------- probabilities
def cancer():
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    X = torch.tensor(data.data, dtype=torch.float32)
    X = (X - X.mean(0)) / X.std(0)
    return X, torch.tensor(data.target)


def sigmoid_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(30, 16), nn.ReLU(), nn.Linear(16, 1), nn.Sigmoid())


def test_a_sigmoid_model_with_bce_loss_and_float_targets_is_judged_on_its_probabilities():
    """It used to be "bad: accuracy_paradox" with ROC AUC 0.976: sigmoid outputs thresholded as logits."""
    X, y = cancer()
    seen = set()

    def bce(p, t):
        seen.add((p.dim(), p.dtype, t.shape == p.shape, t.dtype))
        return F.binary_cross_entropy(p, t)

    run = tw.Trainer(epochs=8, lr=1e-2, batch_size=32, loss_fn=bce).fit(sigmoid_net(), (X[:400], y[:400].float()),
                                                                         (X[400:], y[400:].float()))
    assert seen == {(1, torch.float32, True, torch.float32)}         # the loss_fn contract: [N] and [N] float
    assert run.data["outputs"] == "probabilities" and run.data["loss_input"] == "probabilities"
    assert run.verdict != "bad" and run.metrics["accuracy"] > 0.95 and run.metrics["recall"] > 0.9
    assert "probabilities_into_logit_loss" not in {f.code for f in run.findings}
    with torch.no_grad():
        p = run.model(X[400:]).reshape(-1)
    assert run.metrics["tp"] == int(((p >= 0.5) & (y[400:] == 1)).sum())   # thresholded at 0.5, no second sigmoid
    assert run.thresholds["best_f1"]["threshold"] > 0.05


def test_a_logits_loss_on_probabilities_is_a_finding_that_says_what_to_do():
    X, y = cancer()
    run = tw.Trainer(epochs=3, lr=1e-2, batch_size=32).fit(sigmoid_net(), (X[:400], y[:400]), (X[400:], y[400:]))
    finding = next(f for f in run.findings if f.code == "probabilities_into_logit_loss")
    assert finding.severity == "warning" and "nn.BCELoss()" in finding.advice and "final activation" in finding.advice
    softmax = nn.Sequential(nn.Linear(30, 2), nn.Softmax(dim=1))
    run = tw.Trainer(epochs=2, lr=1e-2, batch_size=32).fit(softmax, (X[:400], y[:400]), (X[400:], y[400:]))
    assert run.data["outputs"] == "probabilities"
    assert "probabilities_into_logit_loss" in {f.code for f in run.findings}
    assert 0 <= run.thresholds["best_f1"]["threshold"] <= 1


def test_a_logits_model_whose_first_outputs_happen_to_lie_in_0_1_stays_a_logits_model():
    X, y = cancer()
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(30, 1))
    with torch.no_grad():
        net[0].weight.mul_(0.001)
        net[0].bias.fill_(0.5)                 # every first output in [0, 1]; no sigmoid in the graph
    run = tw.Trainer(epochs=1, batch_size=32).fit(net, (X, y))
    assert run.data["outputs"] == "logits"


# ---------------------------------------------------------------------------------------------- sample weights, loss_fn
def test_sample_weights_weigh_each_samples_loss():
    X, y = blobs(n=64)

    class Weighted(Dataset):
        def __init__(self, w):
            self.w = w

        def __len__(self):
            return len(y)

        def __getitem__(self, i):
            return X[i], y[i], self.w[i]

    ones = tw.Trainer(epochs=1, batch_size=64, optimizer="sgd", lr=1e-9).fit(Wrapped("tensor"), Weighted(torch.ones(64)),
                                                                             Weighted(torch.ones(64)))
    twos = tw.Trainer(epochs=1, batch_size=64, optimizer="sgd", lr=1e-9).fit(Wrapped("tensor"),
                                                                             Weighted(torch.full((64,), 2.0)),
                                                                             Weighted(torch.full((64,), 2.0)))
    assert twos.history[0]["train_loss"] == pytest.approx(2 * ones.history[0]["train_loss"], rel=1e-6)
    assert twos.metrics["loss"] == pytest.approx(2 * ones.metrics["loss"], rel=1e-6)
    assert twos.metrics["accuracy"] == ones.metrics["accuracy"]        # weights weigh the loss, not the counts


def test_the_loss_fn_contract_for_c_outputs_and_a_mismatch_names_both_shapes_and_the_fix():
    X, y = blobs()
    seen = []
    tw.Trainer(epochs=1, batch_size=50, loss_fn=lambda out, t: seen.append((out.shape, t.dtype)) or
               F.cross_entropy(out, t)).fit(Wrapped("tensor"), (X, y))
    assert seen[-1] == (torch.Size([50, 2]), torch.long)
    with pytest.raises(InputError) as info:
        tw.Trainer(epochs=1, loss_fn=nn.BCEWithLogitsLoss()).fit(Wrapped("tensor"), (X, y))
    message = str(info.value)
    assert "\n" not in message and "outputs [2, 2] float32" in message and "targets [2] int64" in message
    assert "(logits [N, C], targets [N] long)" in message and "write loss_fn for those shapes" in message
    with pytest.raises(InputError, match="returned \\[2, 2\\] float32 for 2 samples"):
        tw.Trainer(epochs=1, loss_fn=lambda o, t: o).fit(Wrapped("tensor"), (X, y))


def test_split_batch_and_to_device_read_the_contract():
    x, y, w = torch.zeros(4, 3), torch.zeros(4, dtype=torch.long), torch.ones(4)
    assert split_batch((x, y))[2] is None
    assert split_batch([x, y, w])[2] is w
    inputs, targets, weights = split_batch({"input_ids": x, "mask": x, "label": y, "sample_weight": w})
    assert set(inputs) == {"input_ids", "mask"} and targets is y and weights is w
    assert split_batch({"x": x, "y": y})[0] is x                       # a lone x is passed positionally
    with pytest.raises(InputError, match="targets under several keys \\(labels, y\\)"):
        split_batch({"a": x, "labels": y, "y": y})
    with pytest.raises(InputError, match="no targets"):
        split_batch({"a": x})
    with pytest.raises(InputError, match="tuple of 4"):
        split_batch((x, x, y, w))
    Pair = namedtuple("Pair", ["a", "b"])
    moved = to_device({"a": [x, (x, {"b": y})], "n": Pair(x, 3), "s": "text"}, torch.device("cpu"))
    assert isinstance(moved["n"], Pair) and moved["n"].b == 3 and moved["s"] == "text"
    assert moved["a"][1][1]["b"] is y


def test_float_class_targets_from_a_dataset_with_the_default_loss_are_one_line():
    X, y = blobs(n=40)
    rows = ListData([(X[i], float(y[i])) for i in range(40)])
    with pytest.raises(InputError) as info:
        tw.Trainer(epochs=1).fit(Wrapped("tensor"), rows)
    assert "default loss (cross-entropy)" in str(info.value) and "targets [2] float" in str(info.value)
    assert "[N] int64" in str(info.value)


def test_evaluating_a_frozen_model_judges_its_outputs_on_the_whole_first_batch():
    """No graph to read the final activation from: the values of a whole batch decide, not two rows."""
    X, y = blobs()
    net = nn.Sequential(nn.Linear(6, 1))
    with torch.no_grad():
        net[0].weight.zero_()
        net[0].weight[0, 0] = 0.05
        net[0].bias.fill_(0.5)
    net.requires_grad_(False)
    X[0, 0] = X[1, 0] = 0.0                    # the first two rows' logits are 0.5: they alone look like probabilities
    X[2, 0] = 100.0                            # a later row's logit is 5.5
    metrics = tw.Trainer(val_batch_size=300).evaluate(net, (X, y))
    with torch.no_grad():
        assert metrics["tp"] + metrics["fp"] == int((net(X) >= 0).sum())      # thresholded as logits, at 0
