import math

import pytest

from qa.evaluation import mrr_at_k, ndcg_at_k, recall_at_k


def test_ndcg_hand_computed():
    # Relevant: d1 (grade 1), d3 (grade 1). Ranking: d2, d1, d3.
    ranked, rel = ["d2", "d1", "d3"], {"d1": 1, "d3": 1}
    dcg = 1 / math.log2(3) + 1 / math.log2(4)
    idcg = 1 / math.log2(2) + 1 / math.log2(3)
    assert ndcg_at_k(ranked, rel, 10) == pytest.approx(dcg / idcg)
    assert ndcg_at_k(["d1", "d3"], rel, 10) == pytest.approx(1.0)
    assert ndcg_at_k(["x", "y"], rel, 10) == 0.0
    assert ndcg_at_k(["d2", "d1"], rel, 1) == 0.0


def test_recall_and_mrr_hand_computed():
    ranked, rel = ["a", "b", "c", "d"], {"c": 1, "z": 1}
    assert recall_at_k(ranked, rel, 2) == 0.0
    assert recall_at_k(ranked, rel, 3) == 0.5
    assert mrr_at_k(ranked, rel, 10) == pytest.approx(1 / 3)
    assert mrr_at_k(ranked, rel, 2) == 0.0


@pytest.mark.parametrize("doc_id", ["4983", "a/b", "..", "id with spaces", "ünï-c\u00f6d\u00e9", "%41"])
def test_beir_ids_round_trip_through_file_names(doc_id):
    from qa.evaluation import beir_doc_filename, doc_id_from_path

    name = beir_doc_filename(doc_id)
    assert "/" not in name and name.endswith(".txt")
    assert doc_id_from_path(f"corpus/{name}") == doc_id


def test_graded_relevance_uses_linear_gain():
    # trec_eval and BEIR: gain = grade (2^grade - 1 would give d2 three times d1's weight, not two).
    ranked, rel = ["d1", "d2"], {"d1": 1, "d2": 2}
    dcg = 1 / math.log2(2) + 2 / math.log2(3)
    idcg = 2 / math.log2(2) + 1 / math.log2(3)
    assert ndcg_at_k(ranked, rel, 10) == pytest.approx(dcg / idcg)


def test_metrics_match_pytrec_eval_on_random_runs():
    """nDCG@10, Recall@10 and Recall@100 against trec_eval's own code (pytrec_eval), on graded
    qrels like NFCorpus's and TREC-COVID's, over many random rankings."""
    import random

    import pytrec_eval

    rng = random.Random(13)
    docs = [f"d{i}" for i in range(300)]
    qrels, run, ours = {}, {}, {}
    for q in range(60):
        judged = rng.sample(docs, rng.randint(1, 40))
        qrels[f"q{q}"] = {d: rng.choice([0, 1, 1, 2, 3]) for d in judged}
        if not any(qrels[f"q{q}"].values()):
            qrels[f"q{q}"][judged[0]] = 1
        ranked = rng.sample(docs, 150)
        # Distinct, descending scores: trec_eval orders by score, so the ranking is ours exactly.
        run[f"q{q}"] = {d: float(len(ranked) - i) for i, d in enumerate(ranked)}
        ours[f"q{q}"] = ranked
    evaluator = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "recall.10,100"})
    reference = evaluator.evaluate(run)
    for q, ranked in ours.items():
        rel = qrels[q]
        assert ndcg_at_k(ranked, rel, 10) == pytest.approx(reference[q]["ndcg_cut_10"], abs=1e-9), q
        assert recall_at_k(ranked, rel, 10) == pytest.approx(reference[q]["recall_10"], abs=1e-9), q
        assert recall_at_k(ranked, rel, 100) == pytest.approx(reference[q]["recall_100"], abs=1e-9), q
