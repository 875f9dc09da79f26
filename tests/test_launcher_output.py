"""What `harness train` shows of accelerate's launcher: the ranks' lines, never torch elastic's traceback."""

import random
import sys

from harness.train.launcher_output import SUMMARY, ElasticTracebackFilter, run_launcher

RANK_LINES = ("Training on 2 GPU(s): -m accelerate.commands.launch --multi_gpu ...\n"
              "step 1/4 \r" "step 2/4 \r"
              "Error: /tmp/ckpt/adapter: the saved adapter holds 0 of the 448 trained LoRA tensors\n"
              "W1126 10:31:00.000000 123 site-packages/torch/distributed/elastic/multiprocessing/api.py:900] "
              "Sending process 456 closing signal SIGTERM\n")
ELASTIC = ("Traceback (most recent call last):\n"
           '  File "<frozen runpy>", line 198, in _run_module_as_main\n'
           '  File "/x/torch/distributed/launcher/api.py", line 274, in launch_agent\n'
           "    raise ChildFailedError(\n"
           "torch.distributed.elastic.multiprocessing.errors.ChildFailedError: \n"
           "============================================================\n"
           "harness FAILED\n"
           "------------------------------------------------------------\n"
           "Failures:\n  <NO_OTHER_FAILURES>\n"
           "Root Cause (first observed failure):\n[0]:\n  exitcode  : 1 (pid: 456)\n"
           "  traceback : To enable traceback see: https://pytorch.org/docs/stable/elastic/errors.html\n"
           "============================================================\n")
OTHER = ("Traceback (most recent call last):\n"
         '  File "/x/harness/train/checkpoint.py", line 9, in train_checkpoint\n'
         "    raise KeyError(name)\n"
         "\n"
         "During handling of the above exception, another exception occurred:\n"
         "\n"
         "Traceback (most recent call last):\n"
         '  File "/x/harness/cli/train.py", line 3, in train\n'
         "KeyError: 'mine'\n")


def filtered(text, seed=0):
    """The filter's output for ``text`` fed in random chunks (the pipe cuts lines anywhere)."""
    rng, out, shown = random.Random(seed), [], ElasticTracebackFilter()
    i = 0
    while i < len(text):
        n = rng.randint(1, 40)
        out.append(shown.feed(text[i:i + n]))
        i += n
    return "".join(out) + shown.close()


def test_the_elastic_traceback_and_its_table_become_one_line():
    for seed in range(20):
        assert filtered(RANK_LINES + ELASTIC, seed) == RANK_LINES + SUMMARY


def test_any_other_traceback_passes_unchanged():
    for seed in range(20):
        assert filtered(RANK_LINES + OTHER, seed) == RANK_LINES + OTHER


def test_a_progress_redraw_is_shown_before_its_line_ends():
    shown = ElasticTracebackFilter()
    assert shown.feed("step 1/4 \r") == "step 1/4 \r"  # no newline yet, shown at once
    assert shown.feed("Trace") == ""  # may begin a traceback: held
    assert shown.feed("r-free text\n") == "Tracer-free text\n"


def test_run_launcher_returns_the_exit_code_and_hides_the_traceback(tmp_path, capfd):
    script = tmp_path / "launcher.py"
    script.write_text(f"import sys\nsys.stderr.write({RANK_LINES + ELASTIC!r})\nprint('rank stdout')\nsys.exit(1)\n")
    assert run_launcher([sys.executable, str(script)], {}) == 1
    out, err = capfd.readouterr()
    assert out == "rank stdout\n" and err == RANK_LINES + SUMMARY and "Traceback" not in err
