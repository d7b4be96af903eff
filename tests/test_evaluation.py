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
