"""``llm-judge:MODEL``: a registered model grades reasoning with a versioned rubric (issue 4).

MODEL is any checkpoint name or model spec that ``harness.checkpoints.loading.load_model``
accepts (``exp_18``, ``hf:BASE``, ``openai:...``); it is driven through
``Model.generate``.  The rubric (``rubric_reasoning_v1.txt``) asks for integer
scores 1-5 per criterion as one JSON object; they are mapped to [0, 1].  An
answer that is not JSON, lacks a criterion or is out of range is a recorded
failure (``Judgment.error``), never a crash, and the other samples are scored.

The judged texts are wrapped in ``[[BEGIN DATA <nonce> name]]`` /
``[[END DATA <nonce>]]`` markers and the rubric says that what they enclose is
data, not instructions.  Any ``[[`` or ``]]`` inside the judged text is broken
up, and the nonce is a hash of the judged texts themselves, so a text cannot
close its block and smuggle in instructions (tests/test_judges_llm.py).

Pairwise mode: :meth:`LLMJudge.prefer_batch` answers one order (``harness judge
--pairwise`` asks both and reports the flip rate); :meth:`LLMJudge.compare_batch`
asks A-vs-B in both orders and averages, cancelling the judge's position bias.

Decoding (option ``decoding``): ``generate`` (default) lets the model write its
JSON answer; ``choice`` scores each criterion by forced choice: the rubric
prompt, then ``{"criterion":``, and the most probable of " 1".." 5" by the
model's own label scoring (hf's scoring pass), so even a weak model always
yields valid scores; pairwise, the likeliest of "A", "B", "tie" after ``{"winner": "``.  The option is part of the judge's identity.

Options: ``max_new_tokens`` (400), ``rubric`` (a rubric file of your own), ``decoding``;
every other option goes to the model loader (e.g. ``chat_template=true`` for
an instruct model served by ``hf``).
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from harness import HarnessError, Judge, JudgeOption, Judgment, Preference, hookimpl

RUBRIC = Path(__file__).with_name("rubric_reasoning_v1.txt")
PAIRWISE_RUBRIC = Path(__file__).with_name("rubric_pairwise_v1.txt")
RUBRIC_VERSION = "reasoning-v1"
CRITERIA = ("coherence", "relevance", "specificity", "consistency", "overall")
SCALE = (1, 5)
DECODINGS = ("generate", "choice")
#: appended to the rubric prompt for forced-choice scoring: the answer's JSON up to one criterion's score
CHOICE_SCAFFOLD = '\n\n{{"{criterion}":'
WINNER_SCAFFOLD = '\n\n{"winner": "'
PLACEHOLDER = re.compile(r"\{(nonce|content|reasoning|verdict|reasoning_a|verdict_a|reasoning_b|verdict_b)\}")


def neutralise(text: str) -> str:
    """Break up marker brackets so judged text can never form a data delimiter."""
    text = text or ""
    while "[[" in text or "]]" in text:
        text = text.replace("[[", "[ [").replace("]]", "] ]")
    return text


def build_prompt(rubric: str, fields: dict) -> str:
    """Fill the rubric's placeholders in one pass; judged text is never re-scanned.

    ``fields`` maps placeholder names to the judged texts; the nonce is derived
    from them (a text would have to contain its own hash to guess it).
    """
    data = {k: neutralise(str(v)) for k, v in fields.items()}
    digest = hashlib.sha256()
    for key in sorted(data):
        digest.update(key.encode() + b"\0" + data[key].encode() + b"\0")
    data["nonce"] = digest.hexdigest()[:16]
    missing = {m.group(1) for m in PLACEHOLDER.finditer(rubric)} - set(data)
    if missing:
        raise HarnessError(f"rubric placeholder(s) {sorted(missing)} have no value")
    return PLACEHOLDER.sub(lambda m: data[m.group(1)], rubric)


def find_json_object(text: str) -> dict | None:
    """The first JSON object in an answer (code fences and surrounding prose allowed)."""
    decoder = json.JSONDecoder()
    for m in re.finditer(r"\{", text or ""):
        try:
            obj, _ = decoder.raw_decode(text, m.start())
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            return obj
    return None


def parse_scores(answer: str) -> Judgment:
    """Per-criterion scores from the judge's answer, or a Judgment carrying the reason it failed."""
    shown = (answer or "").strip().replace("\n", " ")[:160]
    obj = find_json_object(answer)
    if obj is None:
        return Judgment({}, shown, f"judge answer is not a JSON object: '{shown}'")
    low, high = SCALE
    scores, problems = {}, []
    for name in CRITERIA:
        value = obj.get(name)
        if isinstance(value, str) and re.fullmatch(r"\s*\d+(\.\d+)?\s*", value):
            value = float(value)
        if value is None:
            problems.append(f"'{name}' is missing")
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            problems.append(f"'{name}' is {value!r}, not a number")
        elif not low <= value <= high:
            problems.append(f"'{name}' = {value} is outside {low}-{high}")
        else:
            scores[name] = round((float(value) - low) / (high - low), 4)
    if problems:
        return Judgment({}, shown, "judge answer: " + "; ".join(problems))
    return Judgment(scores, str(obj.get("explanation", ""))[:500])


def parse_winner(answer: str) -> str | None:
    obj = find_json_object(answer)
    if obj is None:
        return None
    winner = str(obj.get("winner", "")).strip().upper()
    return {"A": "A", "B": "B", "TIE": "tie"}.get(winner)


class LLMJudge(Judge):
    """Grades with a loaded :class:`harness.interfaces.model.Model`."""

    criteria = CRITERIA
    composite = "overall"
    arg = "a model: any name from `harness models` or a model spec, e.g. exp_18"
    arg_required = True
    options = {
        "max_new_tokens": JudgeOption((int,), 400, "longest answer the judge model may write"),
        "rubric": JudgeOption((str,), None, "a rubric file of your own (placeholders {nonce} and {reasoning})"),
        "decoding": JudgeOption((str,), "generate", "generate: the model writes the JSON answer; choice: per "
                                                    "criterion, the most probable score 1-5 after the rubric "
                                                    "(always valid; needs a model that scores labels, e.g. hf)"),
    }
    other_options = "the model loader (e.g. chat_template=true), which checks them when it loads the model"

    @classmethod
    def check(cls, arg: str, options: dict):
        from harness import resolve_checkpoint

        resolve_checkpoint(arg)  # an unknown model name fails here, before any sample is generated
        if options.get("decoding") not in DECODINGS:
            raise HarnessError(f"--judge-option llm-judge.decoding={options.get('decoding')!r}: expected one of "
                               f"{', '.join(DECODINGS)}")
        if options.get("rubric") and not Path(options["rubric"]).exists():
            raise HarnessError(f"llm-judge rubric file {options['rubric']} does not exist")

    @classmethod
    def create(cls, arg: str, options: dict) -> "LLMJudge":
        from harness import load_model

        options = dict(options)
        rubric, max_new_tokens = options.pop("rubric"), options.pop("max_new_tokens")
        decoding = options.pop("decoding")
        return cls(load_model(arg, options), arg, rubric=rubric, max_new_tokens=max_new_tokens, decoding=decoding)

    def __init__(self, model, model_name: str, rubric: str | Path | None = None, max_new_tokens: int = 400,
                 decoding: str = "generate"):
        if decoding not in DECODINGS:
            raise HarnessError(f"llm-judge decoding {decoding!r}: expected one of {', '.join(DECODINGS)}")
        self.model = model
        self.decoding = decoding
        self.name = f"llm-judge:{model_name}"
        rubric_path = Path(rubric) if rubric else RUBRIC
        if not rubric_path.exists():
            raise HarnessError(f"llm-judge rubric file {rubric_path} does not exist")
        self.rubric = rubric_path.read_text(encoding="utf-8")
        self.pairwise_rubric = PAIRWISE_RUBRIC.read_text(encoding="utf-8")
        for needed in ("{nonce}", "{reasoning}"):
            if needed not in self.rubric:
                raise HarnessError(f"{rubric_path}: rubric must contain the placeholder {needed}")
        self.max_new_tokens = int(max_new_tokens)
        model_tag = hashlib.sha256(model.fingerprint().encode()).hexdigest()[:8]
        rubric_tag = hashlib.sha256((self.rubric + self.pairwise_rubric).encode()).hexdigest()[:6]
        self.version = f"{RUBRIC_VERSION}-{rubric_tag}-m{model_tag}"

    def close(self):
        self.model.close()

    def prompt_for(self, item) -> str:
        return build_prompt(self.rubric, {"content": item.content, "reasoning": item.reasoning or item.completion,
                                          "verdict": item.verdict or "(no verdict could be parsed)"})

    def _ask(self, prompts: list[str], cues: list | None = None, max_new_tokens: int | None = None) -> list:
        """Generate one greedy answer per prompt; returns Generation objects in prompt order.

        ``cues`` (one LabelCue per prompt) ask the model to score label words, as a guard run does.
        """
        from harness import GenerationRequest, GenerationSettings

        settings = GenerationSettings(max_new_tokens=max_new_tokens or self.max_new_tokens, temperature=0.0,
                                      samples=1, seed=0)
        cues = cues or [None] * len(prompts)
        requests = [GenerationRequest(sample_id=str(i), prompt=p, sample_index=0, seed=0, content=p, label_cue=c)
                    for i, (p, c) in enumerate(zip(prompts, cues))]
        out = [None] * len(prompts)
        if not prompts:
            return out
        for gen in self.model.generate(requests, settings):
            out[int(gen.sample_id)] = gen
        return out

    def choice_prompt(self, item, criterion: str) -> str:
        """The rubric prompt followed by the start of the JSON answer, up to where ``criterion``'s score goes."""
        return self.prompt_for(item).rstrip() + CHOICE_SCAFFOLD.format(criterion=criterion)

    def _choose(self, items) -> list:
        """Forced choice: per criterion, the score among 1-5 the model finds most probable next.

        Each score's probability is the model's own label scoring (``Generation.label_probs``,
        e.g. hf's scoring pass) of the words " 1".." 5" right after :meth:`choice_prompt`;
        the answer is always valid, and deterministic for a given model and prompt.
        """
        from harness import LabelCue

        low, high = SCALE
        words = {str(v): f" {v}" for v in range(low, high + 1)}
        cues = [LabelCue(f"llm-judge:{c}", words, lambda text: 0, "") for c in CRITERIA]
        prompts = [self.choice_prompt(item, c) for item in items for c in CRITERIA]
        gens = self._ask(prompts, [cue for _ in items for cue in cues], max_new_tokens=1)
        out = []
        for n in range(len(items)):
            scores, shown, problem = {}, [], None
            for k, criterion in enumerate(CRITERIA):
                gen = gens[n * len(CRITERIA) + k]
                probs = getattr(gen, "label_probs", None) if gen is not None else None
                if not probs:
                    reason = gen.error if gen is not None and gen.error else "it gave no label probabilities"
                    problem = (f"decoding=choice needs a judge model that scores label words (e.g. hf); "
                               f"for '{criterion}' {reason}")
                    break
                value = max(range(low, high + 1), key=lambda v: (probs[str(v)], -v))  # ties: the lower score
                scores[criterion] = round((value - low) / (high - low), 4)
                shown.append(f"{criterion} {value} (p={probs[str(value)]:.3f})")
            out.append(Judgment({}, "", problem) if problem else Judgment(scores, "forced choice: " + ", ".join(shown)))
        return out

    def judge_batch(self, items):
        asked = [i for i, item in enumerate(items) if (item.reasoning or item.completion or "").strip()]
        if self.decoding == "choice":
            chosen = dict(zip(asked, self._choose([items[i] for i in asked])))
            return [chosen.get(i) or Judgment({c: 0.0 for c in CRITERIA}, "empty reasoning: every score is 0")
                    for i in range(len(items))]
        answers = dict(zip(asked, self._ask([self.prompt_for(items[i]) for i in asked])))
        results = []
        for i in range(len(items)):
            gen = answers.get(i)
            if i not in answers:
                results.append(Judgment({c: 0.0 for c in CRITERIA}, "empty reasoning: every score is 0"))
            elif gen is None or gen.text is None:
                reason = gen.error if gen is not None else "the judge model returned nothing"
                results.append(Judgment({}, "", f"judge model failed: {reason}"))
            else:
                results.append(parse_scores(gen.text))
        return results

    def prefer_batch(self, pairs: list[tuple]) -> list[Preference]:
        """Which of two reasonings is better, for each (first, second) pair shown in that order.

        One asking per pair; :mod:`harness.judge.pairwise` asks both orders itself.
        """
        prompts = [build_prompt(self.pairwise_rubric, {
            "content": first.content,
            "reasoning_a": first.reasoning or first.completion, "verdict_a": first.verdict or "(none)",
            "reasoning_b": second.reasoning or second.completion, "verdict_b": second.verdict or "(none)"})
            for first, second in pairs]
        if self.decoding == "choice":
            return self._choose_winner(prompts)
        out = []
        for gen in self._ask(prompts):
            text = gen.text if gen is not None else None
            winner = parse_winner(text) if text is not None else None
            shown = (text or "").strip()[:160]
            if winner is None:
                out.append(Preference(None, shown, f"pairwise answer has no winner A/B/tie: '{shown}'"))
            else:
                out.append(Preference({"A": "first", "B": "second", "tie": "tie"}[winner], shown))
        return out

    def _choose_winner(self, prompts: list[str]) -> list[Preference]:
        """Forced choice among "A", "B" and "tie" after the start of the answer's JSON (see :meth:`_choose`)."""
        from harness import LabelCue

        cue = LabelCue("llm-judge:winner", {"A": "A", "B": "B", "tie": "tie"}, lambda text: 0, "")
        gens = self._ask([p.rstrip() + WINNER_SCAFFOLD for p in prompts], [cue] * len(prompts), max_new_tokens=1)
        out = []
        for gen in gens:
            probs = getattr(gen, "label_probs", None) if gen is not None else None
            if not probs:
                out.append(Preference(None, "", "decoding=choice needs a judge model that scores label words "
                                                "(e.g. hf); it gave no label probabilities"))
                continue
            winner = max(("tie", "A", "B"), key=lambda w: probs[w])  # exact ties: "tie" first
            out.append(Preference({"A": "first", "B": "second", "tie": "tie"}[winner],
                                  "forced choice: " + ", ".join(f"{w} p={probs[w]:.3f}" for w in ("A", "B", "tie"))))
        return out

    def compare_batch(self, pairs: list[tuple]) -> list[Judgment]:
        """A-vs-B preference for each (a, b) pair, asked in both orders.

        ``preference`` is the probability-like share of the two askings that
        preferred ``a`` (tie = half); ``position_consistent`` is 1 when both
        orders agree.  One unparseable answer makes the pair a recorded failure.
        """
        answers = self.prefer_batch([p for a, b in pairs for p in ((a, b), (b, a))])
        results = []
        for n in range(len(pairs)):
            p1, p2 = answers[2 * n], answers[2 * n + 1]
            if p1.winner is None or p2.winner is None:
                bad = p1 if p1.winner is None else p2
                results.append(Judgment({}, bad.explanation, bad.error))
                continue
            # In the second asking a is shown second.
            share = ({"first": 1.0, "tie": 0.5, "second": 0.0}[p1.winner]
                     + {"second": 1.0, "tie": 0.5, "first": 0.0}[p2.winner]) / 2
            consistent = {"first": "second", "second": "first", "tie": "tie"}[p2.winner] == p1.winner
            w = {"first": "A", "second": "B", "tie": "tie"}
            results.append(Judgment({"preference": share, "position_consistent": float(consistent)},
                                    f"a-first: {w[p1.winner]}; b-first: {w[p2.winner]}"))
        return results


@hookimpl
def register_judges(register):
    register("llm-judge", LLMJudge,
             description="llm-judge:MODEL grades reasoning 1-5 per criterion with a versioned rubric (JSON answer)")
