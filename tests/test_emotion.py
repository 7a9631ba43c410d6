"""The emotion extension: labels file, session generator, feature sets, statistics and the command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import f1_score

from ma52lib import stats
from ma52lib.chapters import emotion as em
from ma52lib.emotion.experiment import (
    SessionFeatures,
    _boot_scores,
    evaluate_feature_sets,
    format_result,
    predict_clips,
    scores,
    session_features,
    true_labels,
)
from ma52lib.emotion.labels import (
    EMOTIONS,
    EmotionLabelError,
    Session,
    load_sessions,
    read_emotion_labels,
    write_emotion_labels,
)
from ma52lib.synth.emotion import CUE_GROUPS, class_distribution, plan_sessions, synthesize_emotion

HEADER = "split,session,emotion,clips\n"


# ---- labels file ---------------------------------------------------------------------------------
def _lists(root: Path) -> Path:
    """Minimal official lists: two train clips, one test clip."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "train_list_videos.txt").write_bytes(b"0001_00_0001.mp4 3\r\n0001_05_0002.mp4 7\r\n")
    (root / "val_list_videos.txt").write_bytes(b"")
    (root / "test_list_videos.txt").write_bytes(b"test0000.mp4 0")
    return root


def test_labels_round_trip(tmp_path: Path) -> None:
    root = _lists(tmp_path / "ds")
    sessions = [Session("train", "s1", "negative", ("0001_00_0001", "0001_05_0002")),
                Session("test", "s2", "positive", ("test0000",))]
    path = write_emotion_labels(root / "emotion_labels.csv", sessions)
    assert path.read_text().splitlines()[0] == "split,session,emotion,clips"
    assert read_emotion_labels(path, root=root) == sessions
    assert load_sessions(root) == sessions
    # File names with .mp4, a BOM and CRLF (a spreadsheet export) read the same.
    path.write_bytes(b"\xef\xbb\xbf" + (HEADER + "train,s1,negative,0001_00_0001.mp4 0001_05_0002\r\n"
                                        "test,s2,positive,test0000.mp4\r\n").encode())
    assert load_sessions(root) == sessions


@pytest.mark.parametrize(
    "rows, match",
    [
        ("train,s1,angry,0001_00_0001\n", r"line 2: unknown emotion 'angry'.*allowed: negative, neutral, positive"),
        ("train,s1,negative,0001_00_0001\ntrain,s1,neutral,0001_05_0002\n", r"line 3: session 's1' already"),
        ("train,s1,negative,0001_00_0001\ntrain,s2,neutral,0001_00_0001\n",
         r"line 3: clip '0001_00_0001'.*session 's1'"),
        ("train,s1,negative,0009_00_0001\n", r"line 2: unknown clip '0009_00_0001'.*train_list_videos.txt"),
        ("test,s1,negative,0001_00_0001\n", r"line 2: unknown clip .*test_list_videos.txt"),  # wrong split
        ("dev,s1,negative,0001_00_0001\n", r"line 2: unknown split 'dev'"),
        ("train,s1,negative\n", r"line 2: expected 4 fields"),
        ("train,s1,negative,\n", r"line 2: session 's1' lists no clips"),
    ],
)
def test_labels_validation_errors(tmp_path: Path, rows: str, match: str) -> None:
    root = _lists(tmp_path / "ds")
    path = root / "emotion_labels.csv"
    path.write_text(HEADER + rows)
    with pytest.raises(EmotionLabelError, match=match) as err:
        load_sessions(root)
    assert str(path) in str(err.value)


def test_labels_header_custom_emotions_and_missing_file(tmp_path: Path) -> None:
    root = _lists(tmp_path / "ds")
    path = root / "emotion_labels.csv"
    path.write_text("session,emotion,clips\ns1,negative,0001_00_0001\n")
    with pytest.raises(EmotionLabelError, match="line 1: expected the header"):
        load_sessions(root)
    path.write_text(HEADER + "train,s1,anxious,0001_00_0001\n")
    assert load_sessions(root, emotions=("calm", "anxious"))[0].emotion == "anxious"
    with pytest.raises(FileNotFoundError, match="none.csv not found"):
        read_emotion_labels(tmp_path / "none.csv")


# ---- generator -----------------------------------------------------------------------------------
def test_class_distribution_follows_the_documented_factors() -> None:
    self_touch = list(CUE_GROUPS["self-adaptors"])
    illus = list(CUE_GROUPS["illustrators"])
    neg, neu, pos = (class_distribution(e) for e in EMOTIONS)
    assert np.allclose([neg.sum(), neu.sum(), pos.sum()], 1.0)
    assert neg[self_touch].sum() > neu[self_touch].sum() > pos[self_touch].sum()
    assert pos[illus].sum() > neu[illus].sum() > neg[illus].sum()
    # effect 0 is the null control: every state draws from MA-52's base frequencies.
    assert np.allclose(class_distribution("negative", effect=0.0), neu)
    with pytest.raises(ValueError, match="unknown emotion 'sad'"):
        class_distribution("sad")


def test_plan_is_deterministic_balanced_and_session_level() -> None:
    a, people = plan_sessions((6, 3, 6), (2, 4), (1.5, 2.5), seed=3)
    b, _ = plan_sessions((6, 3, 6), (2, 4), (1.5, 2.5), seed=3)
    assert a == b
    for split in ("train", "val", "test"):
        states = sorted(s.session.emotion for s in a if s.session.split == split)
        assert states == sorted(EMOTIONS * (len(states) // 3))
    assert len({s.participant for s in a}) == len(a) == len(people)  # one person per session
    for s in a:
        assert all(c.spec.emotion == s.session.emotion and c.spec.participant == s.participant for c in s.clips)
        assert 2 <= len(s.clips) <= 4


def test_synthesize_emotion_tiny(tmp_path: Path) -> None:
    root = synthesize_emotion(tmp_path / "emo", profile="smoke", seed=1, size=(32, 40), fps=8,
                              sessions=(3, 1, 3), clips_per_session=(2, 2), duration=(1.0, 1.2),
                              workers=1, progress=False)
    sessions = load_sessions(root)  # validates every clip id against the lists
    assert [s.split for s in sessions] == ["train"] * 3 + ["val"] + ["test"] * 3
    meta = json.loads((root / "meta.json").read_text())
    person = {m["session"]: m["participant"] for m in meta["sessions"]}
    by_split = {sp: {person[s.session] for s in sessions if s.split == sp} for sp in ("train", "val", "test")}
    assert not (by_split["train"] & by_split["test"]) and not (by_split["train"] & by_split["val"])
    emotion_of = {c["file"][:-4]: c["emotion"] for c in meta["clips"]}
    assert all(emotion_of[c] == s.emotion for s in sessions for c in s.clips)
    assert len(list((root / "videos_test").glob("test*.mp4"))) == 6
    # Same arguments: reused, not re-rendered; other arguments into the same folder: refused.
    assert synthesize_emotion(tmp_path / "emo", profile="smoke", seed=1, size=(32, 40), fps=8, sessions=(3, 1, 3),
                              clips_per_session=(2, 2), duration=(1.0, 1.2), workers=1, progress=False) == root
    with pytest.raises(FileExistsError, match="other arguments"):
        synthesize_emotion(tmp_path / "emo", profile="smoke", seed=2, workers=1, progress=False)


# ---- features and statistics ---------------------------------------------------------------------
def _fake_run(tmp_path: Path, data_root: Path) -> Path:
    """A run folder holding an untrained smoke MANet (what load_run needs: config.json, best.pt)."""
    from ma52lib.config import make_config, save_config
    from ma52lib.engine.build import build_model_for, embedding_dim, without_weights
    from ma52lib.engine.checkpoint import save_checkpoint

    cfg = without_weights(make_config("smoke", {"data.root": str(data_root), "optim.batch_size": 8}))
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    save_config(cfg, run / "config.json")
    model = build_model_for(cfg, embedding_dim(cfg))
    save_checkpoint({"model": model.state_dict()}, run / "checkpoints" / "best.pt")
    return run


@pytest.fixture(scope="module")
def tiny_emotion(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthesize_emotion(tmp_path_factory.mktemp("emo") / "ds", profile="smoke", seed=0, size=(32, 40), fps=8,
                              sessions=(3, 1, 3), clips_per_session=(2, 3), duration=(1.0, 1.2), workers=1,
                              progress=False)


def test_feature_sets_have_the_expected_shapes(tmp_path: Path, tiny_emotion: Path) -> None:
    from ma52lib.engine.run import load_run

    run = load_run(_fake_run(tmp_path, tiny_emotion))
    sessions = [s for s in load_sessions(tiny_emotion) if s.split == "test"]
    clips = predict_clips(run, tiny_emotion, "test", num_workers=0)
    n_clips = sum(len(s.clips) for s in sessions)
    f = run.model.num_features
    assert clips.probs.shape == (n_clips, 52) and clips.features.shape == (n_clips, f)
    feats = session_features(sessions, clips, annotated=True)
    assert feats.sets["visual"].shape == (3, f)
    assert feats.sets["cues"].shape == (3, 52)
    assert feats.sets["fused"].shape == (3, f + 52)
    assert np.allclose(feats.sets["cues"].sum(1), 1.0, atol=1e-4)  # a mean of distributions
    first = sessions[0]
    rows = [clips.ids.index(c) for c in first.clips]
    assert np.allclose(feats.sets["visual"][0], clips.features[rows].mean(0))
    assert feats.y.tolist() == [EMOTIONS.index(s.emotion) for s in sessions]
    # The reference set: the histogram of the annotated micro-actions (test_labels.txt here).
    truth = true_labels(tiny_emotion)
    assert feats.sets["annotated"].shape == (3, 52)
    assert np.allclose(feats.sets["annotated"][0], np.bincount([truth[c] for c in first.clips], minlength=52)
                       / len(first.clips))
    assert "annotated" not in session_features(sessions, clips).sets
    # A session none of whose clips was predicted is an error naming it.
    with pytest.raises(ValueError, match="session 'ghost'"):
        session_features([Session("test", "ghost", "neutral", ("test9999",))], clips)


def _planted(n: int, carrier: str, rng: np.random.Generator) -> SessionFeatures:
    """Sessions where only ``carrier``'s features depend on the label."""
    y = np.arange(n) % 3
    signal = np.eye(3)[y] * 5.0
    visual = rng.normal(size=(n, 40))
    cues = rng.dirichlet(np.ones(52), size=n)
    if carrier == "visual":
        visual[:, :3] += signal
    else:
        cues[:, :3] += signal / 20
    return SessionFeatures([f"s{i}" for i in range(n)], EMOTIONS, y,
                           {"visual": visual, "cues": cues, "fused": np.concatenate([visual, cues], 1)})


@pytest.mark.parametrize("carrier, other", [("visual", "cues"), ("cues", "visual")])
def test_planted_signal_is_recovered(carrier: str, other: str) -> None:
    rng = np.random.default_rng(0)
    train, test = _planted(90, carrier, rng), _planted(90, carrier, rng)
    res = evaluate_feature_sets(train, test, n_seeds=3, seed=0, n_boot=300)
    acc = {name: res.summary[name]["accuracy"]["mean"] for name in ("visual", "cues", "fused")}
    assert acc[carrier] > 0.9
    assert acc["fused"] > 0.75
    assert acc[other] < 0.55  # chance is 1/3
    comp = res.comparison(carrier, other) if (carrier, other) == ("cues", "visual") else res.comparison("fused", "cues")
    assert comp["ci_test"][0] > 0 and comp["p_test"] < 0.05
    assert em.result_table(res).shape[0] == 3 and em.comparison_table(res).shape[0] == 6  # no reference set here
    assert em.claim_table(res).loc["(c) - (a), points"].iloc[0] == "not public"
    assert "paired differences" in format_result(res) and "paper:" in format_result(res)
    json.dumps(res.to_dict())  # JSON-ready


def test_bootstrap_macro_f1_matches_sklearn() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 20)
    preds = rng.integers(0, 3, (4, 20))
    preds[0] = 0  # classes never predicted count 0, as in scikit-learn

    def sk(true: np.ndarray, pred: np.ndarray) -> float:
        return f1_score(true, pred, labels=[0, 1, 2], average="macro", zero_division=0)

    assert np.allclose(scores(y, preds, 3)["macro_f1"], [sk(y, p) for p in preds])
    idx = np.stack([np.arange(20), rng.integers(0, 20, 20)])  # [B, S]: the identity and one resample
    out = _boot_scores(y, preds, idx, 3)
    assert np.isclose(out["macro_f1"][0], np.mean([sk(y, p) for p in preds]))
    assert np.isclose(out["accuracy"][0], (preds == y).mean())
    assert np.isclose(out["macro_f1"][1], np.mean([sk(y[idx[1]], p[idx[1]]) for p in preds]))
    # The experiment counts an absent emotion as 0; the official scoring (stats' default) leaves it out.
    only_two = np.array([0, 1, 0, 1])
    assert stats.macro_f1(only_two, only_two, 3, over="all") == pytest.approx(2 / 3)
    assert stats.macro_f1(only_two, only_two, 3) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="over must be"):
        stats.macro_f1(only_two, only_two, 3, over="some")


# ---- command line --------------------------------------------------------------------------------
def test_cli_check_and_experiment(tmp_path: Path, tiny_emotion: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from ma52lib.cli import main

    assert main(["emotion", "check", "--data-root", str(tiny_emotion)]) == 0
    assert "train: 3 sessions (negative 1, neutral 1, positive 1)" in capsys.readouterr().out
    out = tmp_path / "emotion.json"
    rc = main(["emotion", "--data-root", str(tiny_emotion), "--run", str(_fake_run(tmp_path, tiny_emotion)),
               "--seeds", "2", "--device", "cpu", "--out", str(out)])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "(c) visual + cues" in text and "paper:" in text
    saved = json.loads(out.read_text())
    assert saved["n_train_sessions"] == 3 and saved["n_test_sessions"] == 3 and saved["n_seeds"] == 2
    assert set(saved["summary"]) == {"visual", "cues", "fused", "annotated"}
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "train,s1,furious,0001_00_0001\n")
    assert main(["emotion", "check", "--data-root", str(tiny_emotion), "--labels", str(bad)]) == 1
    assert "unknown emotion 'furious'" in capsys.readouterr().err
