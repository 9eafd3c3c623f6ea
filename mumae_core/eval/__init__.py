"""One evaluation path: a feature source (cached or live) -> `score_episodes` -> `summarise`.

features.py  CachedFeatures, CachedRepresentations, LiveFeatures; encode_clips, encode_representations
score.py     score_episodes (evaluation), episode_scores (one episode, training), head_scores
summary.py   summarise, results_tables
evaluate.py  evaluate(model, dataset, episodes, ...), feature_source(...)
"""

from mumae_core.eval.evaluate import evaluate, feature_source
from mumae_core.eval.features import (
    CachedFeatures,
    CachedRepresentations,
    FeatureSource,
    LiveFeatures,
    encode_clips,
    encode_representations,
)
from mumae_core.eval.score import episode_scores, score_episodes
from mumae_core.eval.summary import results_tables, summarise

__all__ = [
    "CachedFeatures",
    "CachedRepresentations",
    "FeatureSource",
    "LiveFeatures",
    "encode_clips",
    "encode_representations",
    "episode_scores",
    "evaluate",
    "feature_source",
    "results_tables",
    "score_episodes",
    "summarise",
]
