"""`profile_steps`: a few optimizer steps of `harness train` under torch.profiler, summarised (issue 17)."""

import gzip
import json

import pytest
from harness_plugins.train_profile import busy_seconds, category, parse_profile_steps, summarize_trace

from harness import HarnessError
from tests.test_train_speed import small, train_small_sft  # noqa: F401  (small is a fixture)


def kernel(name, ts, dur, cat="kernel"):
    return {"ph": "X", "cat": cat, "name": name, "ts": ts, "dur": dur}


def test_summary_of_a_hand_written_trace():
    trace = {"traceEvents": [
        kernel("sm90_xmma_gemm_bf16bf16_bf16f32", 0, 400),          # matmul 0-400 us
        kernel("flash_fwd_kernel", 300, 200),                      # attention 300-500: overlaps the gemm by 100
        kernel("_rms_norm_forward_kernel", 700, 100),              # a Triton (Liger) kernel 700-800
        kernel("ncclDevKernel_AllReduce_Sum_bf16_RING_LL", 900, 50),
        kernel("Memcpy HtoD (Pageable -> Device)", 1000, 100, cat="gpu_memcpy"),
        kernel("void at::native::vectorized_elementwise_kernel<4>", 1200, 100),
        {"ph": "X", "cat": "cpu_op", "name": "aten::mm", "ts": 0, "dur": 5000},  # host events are not GPU time
    ]}
    s = summarize_trace(trace, wall_seconds=0.002, steps=2)
    # union of the GPU intervals: 0-500, 700-800, 900-950, 1000-1100, 1200-1300 = 500+100+50+100+100 us
    assert s["gpu_busy_s"] == pytest.approx(850e-6)
    assert s["gpu_idle_share"] == pytest.approx(1 - 850 / 2000)
    assert s["kernels_per_step"] == 2.5  # 5 kernels (the copy is not a kernel) over 2 steps
    assert s["device_s_by_category"] == pytest.approx({"matmul": 400e-6, "attention": 200e-6, "triton": 100e-6,
                                                      "communication": 50e-6, "copies": 100e-6, "other": 100e-6})
    assert s["top_kernels"][0] == ["sm90_xmma_gemm_bf16bf16_bf16f32", 0.0004, 1]


def test_busy_seconds_counts_overlaps_once():
    assert busy_seconds([(0, 10), (5, 15), (20, 30), (22, 25)]) == pytest.approx(25e-6)
    assert busy_seconds([]) == 0


@pytest.mark.parametrize("name,expected", [
    ("ampere_bf16_s16816gemm_bf16_128x128_ldg8_f2f_stages_32x5_tn", "matmul"),
    ("nvjet_tst_192x192_64x4_2x1_v_bz_coopA_NNT", "matmul"),  # cuBLAS on H200 with CUDA 13
    ("void cutlass::Kernel2<cutlass_80_wmma_tensorop_bf16_s161616gemm_bf16_32x32_128x1_tn_align8>", "matmul"),
    ("fmha_cutlassF_bf16_aligned_64x128_rf_sm80", "attention"),  # SDPA's mem-efficient kernel: attention first
    ("void multi_tensor_apply_kernel<TensorListMetadata<4>, AdamFunctor<float>>", "optimizer"),
    ("_swiglu_forward_kernel", "triton"), ("triton_poi_fused_add_0", "triton"),
    ("void at::native::reduce_kernel<512, 1>", "other"),
])
def test_kernel_categories(name, expected):
    assert category(name, "kernel") == expected


@pytest.mark.parametrize("value,message", [
    ("4", "must be FIRST-LAST"), ("6-4", "1 <= FIRST <= LAST"), ("0-2", "1 <= FIRST"), ("3-12", "ends after max_steps 10"),
])
def test_bad_profile_steps_are_refused(value, message):
    with pytest.raises(HarnessError, match=message):
        parse_profile_steps({"profile_steps": value, "max_steps": 10}, "c.yaml")
    assert parse_profile_steps({"profile_steps": "2-3", "max_steps": 10}, "c.yaml") == (2, 3)
    assert parse_profile_steps({}, "c.yaml") is None


def test_train_with_profile_steps_keeps_the_trace_and_records_the_summary(small, tmp_path, monkeypatch, capsys):  # noqa: F811
    from harness.checkpoints.registry import load_registry

    train_small_sft(small, tmp_path, monkeypatch, "prof", "  max_steps: 4\n  batch_size: 2\n  profile_steps: 2-3\n")
    out, _ = capsys.readouterr()
    profile = load_registry()["prof"]["lineage"]["metrics"]["profile"]
    assert profile["steps_profiled"] == "2-3" and profile["steps"] == 2 and profile["wall_s"] > 0
    assert profile["gpu_idle_share"] is None and profile["kernels_per_step"] == 0  # CPU: no GPU kernels
    trace_file = tmp_path / "home" / "checkpoints" / "prof" / "trainer" / "profile_trace.json.gz"
    events = json.loads(gzip.decompress(trace_file.read_bytes()))["traceEvents"]
    assert any(e.get("name") == "aten::mm" or e.get("name") == "aten::addmm" for e in events)  # the step ran in it
    assert "profile of steps 2-3:" in out and "GPU idle n/a (no GPU)" in out
